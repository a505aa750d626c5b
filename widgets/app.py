"""The explorer as a web app: ``latentlab explore`` or ``panel serve widgets/app.py``.

Every browser session gets its own :class:`~latentlab.explorer_state.ExplorerState` (data, generator
and embeddings are shared read-only through :func:`latentlab.explorer_state.load_resources`).
Binds 127.0.0.1 unless ``--address`` says otherwise.
"""

from __future__ import annotations

import threading

import panel as pn

from latentlab.explorer_state import ExplorerState

from latentlab.widgets.annotate import AnnotationPanel
from latentlab.widgets.explorer import LatentExplorer

HELP = "serve the live 2-D latent explorer in a browser (Panel app)"


def create_app(**settings) -> pn.viewable.Viewable:
    """Build one session's app: state (``settings`` are ExplorerState params), explorer and annotation.

    The page comes at once: the explorer loads its state off the event loop (a shared
    :class:`~latentlab.explorer_training.GeneratorTraining` job) and, while a generator trains,
    draws its latent space as it forms (``widgets/training_view.py``)."""
    state = ExplorerState(**settings)
    explorer = LatentExplorer(state)
    annotate = AnnotationPanel(state)
    return pn.Column(
        pn.pane.Markdown(
            "## latentlab explorer: hard-sample mining in a generator's latent space\n"
            "**Run round** trains F and lets the strategy pick J (per round) items; **Step** moves the J "
            "sampling points along F's loss gradient (red arrows) to p' (x) and its nearest "
            "pool item (diamond). Click the map to decode a point.",
            width=1000,
        ),
        pn.Row(explorer, pn.Column(annotate)),
    )


def configure_parser(parser) -> None:
    parser.add_argument("--dataset", default="digits", help="digits (embedded), mnist, ...")
    parser.add_argument("--data-root", default=None, help="folder holding the data set's files")
    parser.add_argument("--strategy", default="snn", help="query strategy of Run round")
    parser.add_argument("--port", type=int, default=5006, help="port (0 = any free port)")
    parser.add_argument(
        "--address", default="127.0.0.1", help="interface to bind; 0.0.0.0 exposes the app to the network"
    )
    parser.add_argument("--show", action="store_true", help="open a browser tab")
    parser.add_argument(
        "--retrain-generator",
        action="store_true",
        help="train the generator afresh (ignore the cache and the shipped weights); the page draws the latent "
        "space as it forms",
    )
    from latentlab.cli import add_threads_argument

    add_threads_argument(parser)
    parser.set_defaults(func=serve)


def serve(args) -> int:
    from latentlab.datasets import DATASETS
    from latentlab.exceptions import ConfigError

    if args.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {args.dataset!r}; valid choices: {', '.join(sorted(DATASETS))}")
    from latentlab.netcheck import check_serve_address
    from latentlab.threads import set_thread_policy

    port, origin = check_serve_address(args.address, args.port)  # before loading anything; port 0 -> real port
    set_thread_policy(getattr(args, "threads", None))
    settings = {"dataset": args.dataset, "data_root": args.data_root, "strategy": args.strategy}
    # load (and, with an empty cache, train the generator) in the background while the server starts:
    # the page answers at once and draws the latent space as it forms; every tab watches this one job
    from latentlab.explorer_training import GeneratorTraining

    job = GeneratorTraining.shared(
        ExplorerState(**settings), retrain=bool(getattr(args, "retrain_generator", False)), progress=True
    )
    print(f"latentlab explore: loading {args.dataset} and its generator in the background...", flush=True)
    threading.Thread(target=_say_when_loaded, args=(job,), daemon=True).start()
    pn.extension()
    print(f"latentlab explore: serving on http://{args.address}:{port}/ (Ctrl-C stops)", flush=True)
    pn.serve(
        lambda: create_app(**settings),
        port=port,
        address=args.address,
        show=args.show,
        websocket_origin=origin,
        title="latentlab explorer",
    )
    return 0


def _say_when_loaded(job) -> None:
    job.wait()
    if job.error:
        print(f"latentlab explore: {job.error}", flush=True)
    else:
        took = job.finished - job.started
        print(f"latentlab explore: loaded {job.key[0]} and its generator in {took:.1f} s", flush=True)


if __name__.startswith("bokeh"):  # panel serve widgets/app.py
    pn.extension()
    create_app().servable(title="latentlab explorer")
