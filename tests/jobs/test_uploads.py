"""services.build_create_code refuses unsafe or oversized code with a `code` field error and writes nothing.
No worker: these fail before anything is enqueued."""

import io
import stat
import tarfile
import zipfile

import pytest
from django.core.exceptions import ValidationError

from launchui.jobs import services
from launchui.jobs.models import JobBuild
from launchui.projects.models import Project

pytestmark = pytest.mark.django_db

TRAIN = b"import wandb\nwandb.init()\n"


def zip_bytes(members) -> bytes:
    """members: [(name, data) or (ZipInfo, data)]."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members, mode="w:gz") -> bytes:
    """members: [(TarInfo, data or None)]."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def refused(owner, **kwargs) -> list[str]:
    kwargs.setdefault("entry_point", "train.py")
    with pytest.raises(ValidationError) as caught:
        services.build_create_code(
            entity=owner.personal_entity, project="proj", source_name="upload", created_by=owner, **kwargs
        )
    errors = caught.value.message_dict
    assert list(errors) == ["code"], errors
    assert not JobBuild.objects.exists() and not Project.objects.exists()  # nothing written
    return errors["code"]


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("link.py")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_bytes([("train.py", TRAIN), (info, "/etc/passwd")])


def tar_member(name, data=b"x", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, (data if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("evil.zip", zip_bytes([("train.py", TRAIN), ("../../etc/cron.d/x", b"boom")]), "points outside the upload"),
        ("evil.zip", zip_bytes([("train.py", TRAIN), ("a/../../x.py", b"boom")]), "points outside the upload"),
        ("evil.zip", zip_bytes([("/etc/passwd", b"root")]), "points outside the upload"),
        ("evil.zip", zip_bytes([("..\\..\\x.py", b"boom")]), "not a portable file name"),
        ("link.zip", symlink_zip(), "symbolic links are not allowed"),
        ("evil.tar.gz", tar_bytes([tar_member("train.py", TRAIN), tar_member("../x.py")]), "points outside the upload"),
        ("evil.tar.gz", tar_bytes([tar_member("/tmp/x.py")]), "points outside the upload"),
        (
            "link.tar.gz",
            tar_bytes([tar_member("train.py", kind=tarfile.SYMTYPE, linkname="/etc/passwd")]),
            "links and special files are not allowed",
        ),
        (
            "hard.tar",
            tar_bytes([tar_member("train.py", kind=tarfile.LNKTYPE, linkname="../../etc/passwd")], "w"),
            "links and special files are not allowed",
        ),
        ("dev.tar", tar_bytes([tar_member("null", kind=tarfile.CHRTYPE)], "w"), "links and special files"),
        ("broken.zip", b"PK\x03\x04 not really", "not a valid zip file"),
        ("broken.tar.gz", b"\x1f\x8b not really", "not a valid tar archive"),
        ("code.rar", b"Rar!", "Upload a .zip or .tar.gz archive"),
        ("empty.zip", zip_bytes([]), "contains no files"),
    ],
)
def test_unsafe_archives_are_refused(owner, filename, content, message):
    messages = refused(owner, archive=(filename, content))
    assert any(message in m for m in messages), messages


def test_a_zip_that_lies_about_a_member_size_is_refused(owner):
    content = zip_bytes([("train.py", TRAIN)])
    # Patch the uncompressed size in the central directory (stored, so the bytes are the data).
    lied = content.replace(len(TRAIN).to_bytes(4, "little"), (len(TRAIN) - 5).to_bytes(4, "little"))
    messages = refused(owner, archive=("lie.zip", lied))
    assert any("lie.zip is damaged" in m or "lies about" in m for m in messages), messages


def test_a_zip_with_corrupt_or_encrypted_members_is_refused_not_a_crash(owner):
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train.py", TRAIN * 20)
    content = bytearray(deflated.getvalue())
    start = 30 + len("train.py")  # the deflate stream follows the local header
    content[start : start + 8] = b"\xff" * 8
    assert any("is damaged" in m for m in refused(owner, archive=("corrupt.zip", bytes(content))))
    encrypted = bytearray(zip_bytes([("train.py", TRAIN)]))
    encrypted[6] |= 1  # the local header's "encrypted" flag
    encrypted[encrypted.index(b"PK\x01\x02") + 8] |= 1  # and the central directory's
    assert any("is damaged" in m for m in refused(owner, archive=("locked.zip", bytes(encrypted))))


@pytest.mark.parametrize(
    "files, message",
    [
        ({"../train.py": TRAIN}, "points outside the upload"),
        ({"/abs/train.py": TRAIN}, "points outside the upload"),
        ({"a\x00b.py": TRAIN}, "not a portable file name"),
        ({".git/HEAD": b"ref"}, "no files outside .git"),
    ],
)
def test_unsafe_folder_files_are_refused(owner, files, message):
    messages = refused(owner, files=files)
    assert any(message in m for m in messages), messages


def test_oversized_uploads_are_refused(owner, settings):
    settings.LAUNCHUI_MAX_CODE_BYTES = 1000
    assert any("larger than" in m for m in refused(owner, archive=("big.zip", b"x" * 1001)))
    # Small when compressed, large unpacked (a zip bomb in miniature).
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train.py", b"\n" * 5000)
    assert len(bomb.getvalue()) < 1000
    assert any("larger than" in m for m in refused(owner, archive=("bomb.zip", bomb.getvalue())))
    assert any("larger than" in m for m in refused(owner, files={"train.py": b"#" * 600, "b.py": b"#" * 600}))


def test_too_many_files_are_refused(owner, settings):
    settings.LAUNCHUI_MAX_CODE_FILES = 3
    many = {f"f{i}.py": b"x" for i in range(4)}
    assert any("more than 3 files" in m for m in refused(owner, files=many))
    assert any("more than 3 files" in m for m in refused(owner, archive=("many.zip", zip_bytes(many.items()))))
    tar = tar_bytes([tar_member(name) for name in many])
    assert any("more than 3 files" in m for m in refused(owner, archive=("many.tar.gz", tar)))


def test_nothing_uploaded_is_refused(owner):
    assert any("Upload a folder" in m for m in refused(owner))


def test_other_fields_are_reported_beside_the_code_error(owner):
    with pytest.raises(ValidationError) as caught:
        services.build_create_code(
            entity=owner.personal_entity,
            project="proj",
            source_name="x",
            entry_point="../train.py",
            runtime="2.7",
            files={"../x": b""},
            created_by=owner,
        )
    assert set(caught.value.message_dict) == {"code", "entry_point", "runtime"}
    assert not JobBuild.objects.exists()


def test_a_good_upload_is_recorded_queued(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        build = services.build_create_code(
            entity=owner.personal_entity,
            project="proj",
            source_name="trainer",
            entry_point="train.py",
            files={"train.py": TRAIN, "wandb/x": b""},
            created_by=owner,
        )
    assert build.status == JobBuild.QUEUED and list(build.params["files"]) == ["train.py"]
    assert len(callbacks) == 1  # the task is sent once the row is committed (not executed here)
