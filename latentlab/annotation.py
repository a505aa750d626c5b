"""A person as a labeling tool: labels given by hand in the annotation widget, kept on disk.

:class:`PersonLabeler` is a :class:`~latentlab.labeling.Labeler` whose labels come from a person
(class buttons for digits, accept/reject for vessel masks). Every answer is written at once to a
:class:`~latentlab.storage.LabelCache` keyed by the input's content hash, so a label given once
survives a restart and the same synthesized image is never asked about twice. Asked for a label
it has not been given yet, it reports the item as failed (``"awaiting a person's label"``) and
keeps it in :attr:`PersonLabeler.pending`, never blocking the loop.

Two modes:

``"class"``   the answer is the label itself (an int class index), for classification pools;
``"accept"``  the answer is accept (1) / reject (0) of a synthesized input (e.g. a vessel mask);
              :meth:`PersonLabeler.prepare` keeps the accepted inputs for an automatic tool
              (the FEM solver) to label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .exceptions import ConfigError
from .labeling import LabelResult, Labeler
from .storage import LabelCache, content_key

__all__ = ["PersonLabeler", "AnnotationQueue", "ANNOTATION_MODES"]

ANNOTATION_MODES = ("class", "accept")
AWAITING = "awaiting a person's label"


class PersonLabeler(Labeler):
    """Labels given by a person, persisted in a :class:`LabelCache`.

    Parameters
    ----------
    cache : LabelCache or path
        Where answers are stored (one ``.npy`` per input).
    mode : {"class", "accept"}
    classes : sequence of str
        Class names (``mode="class"``); answers must be indices into it.
    """

    name = "person"
    can_label_synthetic = True

    def __init__(self, cache, mode: str = "class", classes=()):
        if mode not in ANNOTATION_MODES:
            raise ConfigError(f"annotation mode must be one of {', '.join(ANNOTATION_MODES)}, got {mode!r}")
        if mode == "class" and not len(classes):
            raise ConfigError(
                "mode='class' needs the class names (classes=dataset.classes); "
                "use mode='accept' for inputs without classes (masks)"
            )
        self.cache = cache if isinstance(cache, LabelCache) else LabelCache(Path(cache))
        self.mode = mode
        self.classes = tuple(classes)
        self.pending: dict[str, np.ndarray] = {}  # content key -> input awaiting an answer

    def answer_of(self, x: np.ndarray):
        """The stored answer for input ``x`` (int), or ``None``."""
        a = self.cache.get(x)
        return None if a is None else int(np.asarray(a).ravel()[0])

    def annotate(self, x: np.ndarray, answer) -> None:
        """Store a person's answer for input ``x``: a class index (``"class"``) or accept/reject (``"accept"``).

        Raises
        ------
        ConfigError
            An answer that is not a valid class index / not a bool.
        """
        if self.mode == "class":
            if (
                isinstance(answer, (bool, np.bool_))
                or not isinstance(answer, (int, np.integer))
                or not 0 <= int(answer) < len(self.classes)
            ):
                raise ConfigError(
                    f"a class label must be an index 0..{len(self.classes) - 1} "
                    f"({', '.join(self.classes)}), got {answer!r}"
                )
            value = int(answer)
        else:
            if not isinstance(answer, (bool, np.bool_, int, np.integer)) or int(answer) not in (0, 1):
                raise ConfigError(f"accept/reject answers are True/False, got {answer!r}")
            value = int(bool(answer))
        self.cache.put(x, np.asarray([value], np.int64))
        self.pending.pop(content_key(x), None)

    def label(self, x, *, indices=None, progress=False) -> LabelResult:
        """Labels of the inputs a person has answered; the rest fail and wait in :attr:`pending`."""
        answers = [self.answer_of(xi) for xi in x]
        if self.mode == "accept":  # an accept/reject answer is no label: a tool must label accepted inputs
            raise ConfigError(
                "an accept/reject annotator only filters inputs (prepare); pair it with a "
                "labeling tool such as the FEM solver"
            )
        ok = np.array([a is not None for a in answers], bool)
        errors = {}
        for i, a in enumerate(answers):
            if a is None:
                self.pending[content_key(x[i])] = np.asarray(x[i])
                errors[i] = AWAITING
        y = np.asarray([a for a in answers if a is not None], np.int64)
        return LabelResult(y=y, ok=ok, errors=errors)

    def prepare(self, x: np.ndarray):
        """Inputs a person accepted (``"accept"`` mode) or every input (``"class"`` mode).

        Unanswered inputs are not accepted; they wait in :attr:`pending`.
        """
        x = np.asarray(x)
        if self.mode == "class":
            return x, np.ones(len(x), bool)
        answers = [self.answer_of(xi) for xi in x]
        for xi, a in zip(x, answers):
            if a is None:
                self.pending[content_key(xi)] = xi
        acc = np.array([a == 1 for a in answers], bool)
        return x[acc], acc


class AnnotationQueue:
    """Synthesized inputs waiting for a person's label, committed to a loop's train set as answered.

    The explorer's *Annotate G(p')*: :meth:`queue` decodes points into images, answers the person
    gave before are taken from the :class:`PersonLabeler`'s cache at once, the rest wait in
    :attr:`pending` (first in, first out). Answers join the loop through
    :meth:`latentlab.loop.ActiveLoop.add_synthetic`: a class answer is the label; an accepted mask
    is labelled by the loop's own tool (e.g. the FEM solver).
    """

    def __init__(self, annotator: PersonLabeler):
        self.annotator = annotator
        self.pending: list[dict] = []  # {"x": image, "z": latent point}

    @classmethod
    def for_dataset(cls, dataset, fingerprint: str | None = None) -> "AnnotationQueue":
        """A queue whose answers persist in ``<cache>/labels/person-<dataset>-<fingerprint>``
        (``fingerprint``: ``dataset.fingerprint()`` when already known)."""
        from .storage import cache_dir

        mode = "class" if dataset.task == "classification" else "accept"
        fp = dataset.fingerprint() if fingerprint is None else fingerprint
        folder = cache_dir() / "labels" / f"person-{dataset.name}-{fp}"
        return cls(PersonLabeler(LabelCache(folder), mode=mode, classes=dataset.classes))

    def queue(self, loop, x: np.ndarray, z: np.ndarray) -> int:
        """Replace the queue by images ``x`` (latent points ``z``); commit those answered before.
        Returns how many were taken from the cache."""
        self.pending = [{"x": xi, "z": zi} for xi, zi in zip(x, z)]
        keep, n = [], 0
        for item in self.pending:
            if self.annotator.answer_of(item["x"]) is not None:
                self._commit(loop, item)
                n += 1
            else:
                keep.append(item)
        self.pending = keep
        return n

    def answer(self, loop, answer) -> None:
        """Label the first pending image (class index, or True/False for accept/reject)."""
        if not self.pending:
            raise ConfigError("no image waits for a label: press Annotate after a Step first")
        item = self.pending[0]
        self.annotator.annotate(item["x"], answer)
        self.pending.pop(0)
        self._commit(loop, item)

    def skip(self) -> None:
        """Drop the first pending image without a label."""
        if self.pending:
            self.pending.pop(0)

    def _commit(self, loop, item: dict) -> None:
        x, z = item["x"], item["z"]
        ans = self.annotator.answer_of(x)
        if self.annotator.mode == "class":
            loop.add_synthetic(x[None].astype(np.float32), np.asarray([ans], np.int64), z[None])
        elif ans == 1 and getattr(loop.labeler, "can_label_synthetic", False):
            res = loop.labeler.label(x[None])
            if res.ok.all():
                loop.add_synthetic(x[None].astype(np.float32), np.asarray(res.y), z[None])
