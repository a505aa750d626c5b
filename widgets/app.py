"""The explorer as a web app: ``latentlab explore`` or ``panel serve widgets/app.py``.

Every browser session gets its own :class:`~latentlab.explorer_state.ExplorerState` (data, generator
and embeddings are shared read-only through :func:`latentlab.explorer_state.load_resources`).
Binds 127.0.0.1 unless ``--address`` says otherwise.
"""

from __future__ import annotations

import panel as pn

from latentlab.explorer_state import ExplorerState

from latentlab.widgets.annotate import AnnotationPanel
from latentlab.widgets.explorer import LatentExplorer

HELP = "serve the live 2-D latent explorer in a browser (Panel app)"


def create_app(**settings) -> pn.viewable.Viewable:
    """Build one session's app: state (``settings`` are ExplorerState params), explorer and annotation."""
    state = ExplorerState(**settings).load()
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
    # warm the shared cache (generator, embeddings) before the first tab, saying so: with an empty
    # cache the generator trains first (a minute or more), with a progress bar
    print(f"latentlab explore: loading {args.dataset} and its generator (trained once, then cached)...", flush=True)
    warm = ExplorerState(**settings, progress=True).load()
    if warm.error:
        raise ConfigError(warm.error)
    print(f"latentlab explore: {warm.status.split('.')[0]}", flush=True)
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


if __name__.startswith("bokeh"):  # panel serve widgets/app.py
    pn.extension()
    create_app().servable(title="latentlab explorer")
