"""Pure functions behind the explorer's map of the 2-D latent plane: the heat map and a picked point.

Nothing here holds state: each function takes the latent space, the target model F and its task
and returns plain arrays and dicts the view draws.
"""

from __future__ import annotations

import numpy as np
import torch

from .exceptions import ConfigError

__all__ = ["grid", "heat_map", "nearest_point", "describe_point"]


def grid(extent, n: int) -> np.ndarray:
    """The ``n x n`` points of a regular grid over ``extent = (x0, x1, y0, y1)``, shape (n * n, 2), row = y."""
    x0, x1, y0, y1 = extent
    return np.stack(np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n)), -1).reshape(-1, 2)


@torch.no_grad()
def heat_map(latent, model, task, n: int, heat: str = "entropy", pool_labels=None) -> dict:
    """F's uncertainty (``heat="entropy"``) or loss (``heat="loss"``) over a decoded n x n grid.

    The loss of a grid point uses the label of its nearest pool item (``pool_labels``, as a
    trajectory would reveal it). Tasks without classes (vessels: mask -> stress map) show F's
    predicted peak output instead (``kind="prediction"``).

    Returns
    -------
    dict with ``values`` ndarray (n, n) (row = y, column = x, as Bokeh's Image wants),
    ``x``, ``y`` (lower-left corner), ``dw``, ``dh`` in latent units, and ``kind``.
    """
    x0, x1, y0, y1 = latent.extent()
    z = latent.from_view(grid((x0, x1, y0, y1), n))  # a latent space of dim > 2: the grid lies in its 2-D view
    imgs = latent.decode(z)
    model.eval()
    out = torch.cat([model(torch.as_tensor(imgs[i : i + 2048])) for i in range(0, len(imgs), 2048)])
    kind = heat if task.categorical else "prediction"
    if kind == "prediction":
        v = out.flatten(1).max(1).values
    elif kind == "entropy":
        v = task.entropy(out)
    else:
        if pool_labels is None:
            raise ConfigError("the loss map needs labels; use heat='entropy'")
        _, nn = latent.nearest(z, k=1)
        v = task.per_item_loss(out, task.y_tensor(pool_labels[np.ravel(nn)]))
    return {
        "values": v.numpy().reshape(n, n).astype(np.float64),
        "x": x0,
        "y": y0,
        "dw": x1 - x0,
        "dh": y1 - y0,
        "kind": kind,
    }


def nearest_point(points, z, tol: float):
    """Index of the row of ``points`` (J, 2) nearest to ``z`` (2,) if within ``tol``, else None."""
    if points is None or not len(points):
        return None
    dd = np.linalg.norm(np.asarray(points) - z, axis=1)
    return int(np.argmin(dd)) if dd.min() <= tol else None


@torch.no_grad()
def describe_point(latent, model, task, x_pool, classes, z, move=None, j=None) -> dict:
    """What the map shows for a clicked point ``z`` (2,) of the map (the 2-D view of the latent space).

    With ``move`` (the last step's arrays: p, p_prime, neighbour, loss, loss_after, grad_norm) and
    ``j`` (the sampling point clicked): G(p), G(p') and the real neighbour with the losses. Otherwise
    G(z), the nearest pool item and F's reading of G(z) (class and confidence, or the predicted map).

    Returns ``{"z", "point", "item", "images": [(title, image (C, H, W)), ...], "text"}``.
    """
    sel = {"z": z, "point": j}
    if j is not None:
        p, pp, nb = np.asarray(move["p"])[j], np.asarray(move["p_prime"])[j], int(move["neighbour"][j])
        imgs = latent.decode(np.stack([p, pp]))
        sel["item"] = nb
        sel["images"] = [("G(p)", imgs[0]), ("G(p')", imgs[1]), (f"neighbour #{nb}", x_pool[nb])]
        sel["text"] = (
            f"point {j}: loss {move['loss'][j]:.3f} at p, {move['loss_after'][j]:.3f} at the "
            f"neighbour; |grad| {move['grad_norm'][j]:.3g}"
        )
        return sel
    zl = latent.from_view(np.asarray(z, np.float64)[None])  # the latent point under the click
    _, nn = latent.nearest(zl, k=1)
    nb = int(np.ravel(nn)[0])
    img = latent.decode(zl)[0]
    sel["item"] = nb
    sel["images"] = [("G(z)", img), (f"nearest #{nb}", x_pool[nb])]
    sel["text"] = f"z = ({z[0]:.2f}, {z[1]:.2f})"
    if model is not None:
        model.eval()
        out = model(torch.as_tensor(img[None]))
        if task.categorical:
            prob = torch.softmax(out, 1)[0].numpy()
            c = int(prob.argmax())
            sel["text"] += f": F says {classes[c]} ({100 * prob[c]:.0f} %)"
        elif out.numpy()[0].ndim == 3:  # e.g. a mask -> stress map
            sel["images"].append(("F(G(z))", out.numpy()[0]))
    return sel
