"""utils.runs.atomic_write, the one atomic writer (run files, checkpoints,
the data cache): all or nothing, streamed, no temporary left behind."""

import numpy as np
import pytest
import torch

from data import cache
from utils import runs


def test_an_error_inside_the_block_keeps_the_previous_version(tmp_path):
    path = tmp_path / "deep" / "f.bin"
    runs.write_bytes(path, b"first")
    with pytest.raises(RuntimeError, match="mid-write"):
        with runs.atomic_write(path) as f:
            f.write(b"half of the second")
            raise RuntimeError("mid-write")
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]


def test_every_writer_streams_through_it_and_reads_back(tmp_path):
    a = np.arange(12.0).reshape(3, 4)
    runs.save_npz(tmp_path / "c.npz", a=a)
    cache.atomic_save_arrays(tmp_path / "u.npz", {"a": a})
    runs.save_torch(tmp_path / "t.pt", {"w": torch.from_numpy(a)})
    with np.load(tmp_path / "c.npz") as z:
        np.testing.assert_array_equal(z["a"], a)
    np.testing.assert_array_equal(cache.load_arrays(tmp_path / "u.npz")["a"], a)
    np.testing.assert_array_equal(torch.load(tmp_path / "t.pt", weights_only=True)["w"].numpy(), a)
    # the cache entry is stored (uncompressed), the run file deflated: the two formats they promise
    import zipfile
    kinds = {name: {i.compress_type for i in zipfile.ZipFile(tmp_path / name).infolist()}
             for name in ("c.npz", "u.npz")}
    assert kinds == {"c.npz": {zipfile.ZIP_DEFLATED}, "u.npz": {zipfile.ZIP_STORED}}
    assert not list(tmp_path.glob("*.tmp-*"))
