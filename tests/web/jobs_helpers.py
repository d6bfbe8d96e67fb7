"""Builders for the Jobs page tests: archives (good and hostile) and jobs made by a real build."""

import io
import stat
import tarfile
import zipfile

from launchui.jobs import services
from launchui.jobs.models import JobBuild

TRAIN = b"import wandb\nrun = wandb.init()\nrun.finish()\n"
CODE = {"main.py": TRAIN, "requirements.txt": b"wandb\n", "pkg/__init__.py": b"", "pkg/util.py": b"X = 1\n"}


def make_zip(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def make_tar_gz(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def run_build(build: JobBuild) -> JobBuild:
    """What the Celery task does, here and now."""
    services.build_run(build_id=build.pk)
    build.refresh_from_db()
    return build


def image_job(entity, user, image="ghcr.io/acme/train:1.0", project="proj", **kwargs) -> JobBuild:
    build = run_build(
        services.build_create_image(entity=entity, project=project, image=image, created_by=user, **kwargs)
    )
    assert build.status == JobBuild.SUCCEEDED, build.log
    return build


def code_job(entity, user, files=None, project="proj", source_name="trainer", **kwargs) -> JobBuild:
    build = run_build(
        services.build_create_code(
            entity=entity,
            project=project,
            entry_point="main.py",
            source_name=source_name,
            files=files or CODE,
            created_by=user,
            **kwargs,
        )
    )
    assert build.status == JobBuild.SUCCEEDED, build.log
    return build
