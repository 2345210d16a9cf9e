"""Fourier basis and heat-map helpers (docs/DEFINITIONS.md section 6)."""

import numpy as np
import pytest
import torch

from utils.frequency import (assemble_heatmap, basis_frequencies, distinct_positions,
                             fourier_basis, mirror_map, perturb_with_basis)


@pytest.fixture(scope="module")
def basis32():
    return fourier_basis(32, dtype=torch.float64)


def test_unit_norm_and_fft_support_at_the_frequency_and_its_mirror(basis32):
    norms = basis32.square().sum(dim=(-2, -1)).sqrt()
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-12)
    spec = torch.fft.fftshift(torch.fft.fft2(basis32), dim=(-2, -1)).abs()  # (P, P, P, P)
    mirror = (32 - np.arange(32)) % 32  # fftshift position of -u for even P
    for i, j in [(16, 16), (16, 17), (3, 29), (0, 0), (0, 16), (31, 5)]:
        support = spec[i, j] > 1e-9
        expected = torch.zeros(32, 32, dtype=torch.bool)
        expected[i, j] = expected[mirror[i], mirror[j]] = True
        assert torch.equal(support, expected), (i, j)


def test_dc_is_at_the_centre_for_odd_and_even_P():
    for P in (5, 8, 32):
        uv = basis_frequencies(P)
        assert tuple(uv[P // 2, P // 2]) == (0, 0)
        U = fourier_basis(P, dtype=torch.float64)[P // 2, P // 2]
        assert torch.allclose(U, torch.full((P, P), 1.0 / P, dtype=torch.float64))


def test_514_distinct_orthonormal_bases_on_32x32(basis32):
    pos = distinct_positions(32)
    assert pos.shape == (514, 2)
    flat = basis32[pos[:, 0], pos[:, 1]].reshape(514, -1)
    gram = flat @ flat.T
    assert torch.allclose(gram, torch.eye(514, dtype=torch.float64), atol=1e-10)


@pytest.mark.parametrize("P,n", [(32, 514), (8, 34), (5, 13), (1, 1)])
def test_mirror_map_sends_1024_positions_to_514_consistently(P, n):
    # Even P: (P*P - 4) / 2 pairs + 4 self-mirrored; odd P: (P*P - 1) / 2 + 1.
    basis = fourier_basis(P, dtype=torch.float64)
    pos, index = distinct_positions(P), mirror_map(P)
    assert len(pos) == n and index.shape == (P, P)
    assert sorted(np.unique(index)) == list(range(n))
    rep = basis[pos[index, 0], pos[index, 1]]  # (P, P, P, P): each position's representative
    assert torch.allclose(rep, basis, atol=1e-12)
    assert np.all(np.bincount(index.ravel()) <= 2)


def test_assemble_heatmap_is_point_symmetric_with_dc_at_centre():
    values = np.arange(514, dtype=np.float64)
    hm = assemble_heatmap(values)
    assert hm.shape == (32, 32)
    mirror = (32 - np.arange(32)) % 32
    assert np.array_equal(hm, hm[np.ix_(mirror, mirror)])
    dc_row = int(np.flatnonzero((distinct_positions(32) == [16, 16]).all(axis=1))[0])
    assert hm[16, 16] == values[dc_row]
    stacked = assemble_heatmap(torch.stack([torch.arange(514.0), -torch.arange(514.0)]))
    assert stacked.shape == (2, 32, 32) and np.array_equal(stacked[1], -stacked[0])


def test_perturbation_is_sign_times_v_times_basis_in_pixel_space(basis32):
    x = torch.full((3, 3, 32, 32), 0.5, dtype=torch.float64)
    pos = distinct_positions(32)[[0, 100, 513]]
    U = basis32[pos[:, 0], pos[:, 1]]
    out = perturb_with_basis(x, U, v=1.0, seed=0)  # |v U| <= 1/16: no clipping
    assert out.shape == (3, 3, 3, 32, 32)
    # U has unit norm, so <out - x, U> is the sign r of each (basis, image, channel).
    r = ((out - x) * U[:, None, None]).sum(dim=(-2, -1))
    assert torch.allclose(r.abs(), torch.ones_like(r), atol=1e-12)
    assert torch.allclose(out - x, r[..., None, None] * U[:, None, None], atol=1e-15)
    assert set(r.round().unique().tolist()) == {-1.0, 1.0}
    clipped = perturb_with_basis(torch.rand(4, 3, 32, 32), U, v=4.0, seed=0)
    assert float(clipped.min()) >= 0.0 and float(clipped.max()) <= 1.0


def test_signs_depend_only_on_seed_image_and_basis(basis32):
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pos = distinct_positions(32)[:8]
    ids = pos[:, 0] * 32 + pos[:, 1]
    U = basis32[pos[:, 0], pos[:, 1]]
    whole = perturb_with_basis(x, U, seed=1, basis_ids=ids)
    assert torch.equal(whole, perturb_with_basis(x, U, seed=1, basis_ids=ids))
    part = perturb_with_basis(x[[5, 2]], U[[6, 3]], seed=1, indices=[5, 2], basis_ids=ids[[6, 3]])
    assert torch.equal(part, whole[[6, 3]][:, [5, 2]])
    assert not torch.equal(whole, perturb_with_basis(x, U, seed=2, basis_ids=ids))


@pytest.mark.parametrize("call,arg", [
    (lambda: fourier_basis(0), "P"),
    (lambda: fourier_basis(8, dtype=torch.int32), "dtype"),
    (lambda: assemble_heatmap(np.zeros(513)), "values"),
    (lambda: perturb_with_basis(torch.rand(2, 3, 8, 8), torch.rand(4, 7, 7), seed=0),
     "basis_images"),
    (lambda: perturb_with_basis(torch.rand(2, 3, 8, 8), torch.rand(4, 8, 8), seed=0,
                                basis_ids=[0, 1, 2, 64]), "basis_ids"),
    (lambda: perturb_with_basis(torch.rand(2, 3, 8, 8) * 4 - 2, torch.rand(4, 8, 8), seed=0), "x"),
    (lambda: perturb_with_basis(torch.rand(2, 3, 8, 8), torch.rand(4, 8, 8), v=-1, seed=0), "v"),
])
def test_bad_input_raises_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()
