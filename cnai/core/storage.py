"""Files and folders between local paths and object-store URIs (KFP's `minio://` is its S3 API)."""

from __future__ import annotations

import pandas as pd


def _filesystem(uri: str):
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), uri
    scheme, rest = uri.split("://", 1)
    return fs.FileSystem.from_uri(f"s3://{rest}" if scheme == "minio" else uri)



def copy_tree(source: str, destination: str) -> None:
    """Copy a file or folder between local paths and object-store URIs (KFP's `minio://` is S3)."""
    from pyarrow import fs

    source_fs, source_path = _filesystem(source)
    destination_fs, destination_path = _filesystem(destination)
    info = source_fs.get_file_info(source_path)
    if info.type == fs.FileType.NotFound:
        raise FileNotFoundError(f"{source}: nothing there (did the TrainJob write its outputs?)")
    if info.type == fs.FileType.File:
        parent = destination_path.rsplit("/", 1)[0]
        if parent and parent != destination_path:
            destination_fs.create_dir(parent, recursive=True)
    else:
        destination_fs.create_dir(destination_path, recursive=True)
    fs.copy_files(source_path, destination_path, source_filesystem=source_fs, destination_filesystem=destination_fs)


def read_table(uri: str) -> pd.DataFrame:
    """A local path, or an object-store URI (`minio://` = S3 API) read through pyarrow's filesystems."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    if "://" not in uri:
        return pd.read_parquet(uri)
    scheme, rest = uri.split("://", 1)
    if scheme == "minio":
        uri = f"s3://{rest}"
    filesystem, path = fs.FileSystem.from_uri(uri)
    return pq.read_table(path, filesystem=filesystem).to_pandas()


def s3(uri: str) -> str:
    """KServe's storage initializer reads `s3://`; KFP writes `minio://` for the same objects."""
    scheme, sep, rest = uri.partition("://")
    return f"s3://{rest}" if sep and scheme == "minio" else uri


def s3a(uri: str) -> str:
    """Spark's Hadoop S3 connector reads `s3a://`; KFP writes `minio://` or `s3://` URIs for the same objects."""
    scheme, sep, rest = uri.partition("://")
    return f"s3a://{rest}" if sep and scheme in ("s3", "minio") else uri

