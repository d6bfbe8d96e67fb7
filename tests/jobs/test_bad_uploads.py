"""Security review finding 5: a truncated or corrupted .tar.gz is the uploader's error (a `code` field
error, nothing written), never a crash, wherever the archive is cut."""

import os

import pytest
from django.core.exceptions import ValidationError

from launchui.jobs import services
from launchui.jobs.models import JobBuild
from tests.jobs.test_uploads import TRAIN, tar_bytes, tar_member

pytestmark = pytest.mark.django_db


def test_a_truncated_tar_gz_is_refused_not_a_crash(owner):
    # Incompressible member data, so that every cut lands in a different part of the gzip stream.
    archive = tar_bytes([tar_member("train.py", TRAIN), tar_member("data.bin", os.urandom(20_000))])
    # (A cut in the last few bytes may leave every file whole: tar stops reading before the gzip trailer.)
    cuts = sorted({1, 2, 10, 11, 64, 512, len(archive) // 3, len(archive) // 2, len(archive) * 9 // 10})
    for cut in cuts:
        with pytest.raises(ValidationError) as caught:
            services.build_create_code(
                entity=owner.personal_entity,
                project="proj",
                source_name="upload",
                created_by=owner,
                archive=("code.tar.gz", archive[:cut]),
                entry_point="train.py",
            )
        assert "code.tar.gz" in " ".join(caught.value.message_dict["code"]), (cut, caught.value)
    assert not JobBuild.objects.exists()


def test_a_tar_gz_with_flipped_bytes_is_refused_not_a_crash(owner):
    archive = bytearray(tar_bytes([tar_member("train.py", TRAIN), tar_member("data.bin", os.urandom(5_000))]))
    for position in (12, 40, len(archive) // 2, len(archive) - 6):
        damaged = bytearray(archive)
        damaged[position] ^= 0xFF
        try:
            services.build_create_code(
                entity=owner.personal_entity,
                project="proj",
                source_name="upload",
                created_by=owner,
                archive=("code.tar.gz", bytes(damaged)),
                entry_point="train.py",
            )
        except ValidationError as exc:
            assert list(exc.message_dict) == ["code"], exc
