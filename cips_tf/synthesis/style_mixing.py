"""Layer-wise style mixing (paper App. D, Fig. 19): w of A replaced by w of B in chosen layers.

Layers are counted as in the paper: group 1 is conv1, group g > 1 is block g - 1 (its two ModFC
layers and its ToRGB), i.e. `generator.style_groups()` numbered from 1. A 256 px model has 8
groups, matching Fig. 19's "layers 1-2, 3-5, 6-8".
"""
import numpy as np

from cips_tf import rendering


def layer_indices(generator, groups):
    """Indices into "ws" of the 1-based style `groups` (an iterable of ints)."""
    table = generator.style_groups()
    out = []
    for g in groups:
        if not 1 <= int(g) <= len(table):
            raise ValueError(f"style group {g} out of range 1..{len(table)}")
        out.extend(table[int(g) - 1])
    return sorted(set(out))


def mix_styles(generator, w_a, w_b, groups):
    """`[B, num_ws, S]`: A's style everywhere except B's in the 1-based `groups`."""
    w_a, w_b = np.asarray(w_a, np.float32), np.asarray(w_b, np.float32)
    ws = np.repeat(w_a[:, None], generator.num_ws, axis=1)
    idx = layer_indices(generator, groups)
    if idx:
        ws[:, idx] = w_b[:, None]
    return ws


def style_mix(generator, w_a, w_b, group_sets, height=None, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS):
    """Renders A, B and one mix per entry of `group_sets` -> `[B, 2 + len(group_sets), H, W, 3]`.

    Row i is Fig. 19's row: A_i, B_i, then A_i with B_i's style in each group set.
    """
    rows = [rendering.render(generator, w_a, height, chunk_pixels=chunk_pixels),
            rendering.render(generator, w_b, height, chunk_pixels=chunk_pixels)]
    for groups in group_sets:
        ws = mix_styles(generator, w_a, w_b, groups)
        rows.append(rendering.render(generator, ws, height, per_layer=True, chunk_pixels=chunk_pixels))
    return np.stack(rows, axis=1)
