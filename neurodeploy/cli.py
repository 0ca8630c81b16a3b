"""neurodeploy's command line: compile a spiking network for Loihi, run it, report resources.

The same program three ways: ``python deploy.py`` (in a checkout), ``python -m neurodeploy``
and the ``neurodeploy`` console script. Run any of them with ``--help`` for options and examples.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
import warnings

from .errors import Interrupted, PickleWarning
from .interrupts import deferred, interruptible

EXAMPLES = """\
examples:
  python deploy.py                                   built-in demo (snnTorch on scikit-learn digits) on Lava's simulator
  python deploy.py model.nir --target loihi-sim      any NIR file, seeded random spike input
  python deploy.py model.pt --target cpu             a saved snnTorch model (torch.save): weights only; a pickled
                                                     nn.Module needs --trust-pickle (it can run code: trusted files only)
  python deploy.py weights.pt --model-class mynet:Net --model-args '{"hidden": 1000}' --data digits28 --encode rate:steps=25
                                                     a state_dict and its class, on scikit-learn's digits (28x28), rate-coded
  python deploy.py model.nir --data test.npz --encode latency:steps=25,tau=5,normalize=true
                                                     your labelled data (x: samples, y: classes): float vs chip accuracy
  python deploy.py model.nir --data digits28:max=255 --encode dog:preset=kheradpisheh2018 --decision first-spike
                                                     DoG filters + intensity-to-latency coding, class by first spike
  python deploy.py model.nir --data recordings/ --encode events:sensor_size=34/34/2,n_time_bins=10
                                                     a folder of event files (recordings/<class>/*.bin) binned into frames
  python deploy.py model.nir --data x.npz --layout steps-first
                                                     data encoded already: x is (steps, samples, *shape)
  python deploy.py model.nir --data digits --encode rate:steps=20 --target none --save-compiled net.ndz
                                                     compile once into one file ...
  python deploy.py net.ndz --data digits --target cpu  ... and run it on any target without compiling again
  python deploy.py ann.pt --convert --calibration-data x.npz --target cpu
                                                     convert a trained ReLU ANN (docs/conversion.md); accuracy by steps in conversion.png
  python deploy.py model.nir --verify                run Lava AND the bit-exact CPU backend, compare bit for bit
  python deploy.py model.nir --verify --per-core     the same, with Lava running the mapped network core by core
  python deploy.py model.nir --target torch --verify-against cpu
                                                     the torch engine against the numba engine, bit for bit
  python deploy.py model.nir --input x.npy --record  your encoded input (steps, batch, *shape); save every layer's spikes
  python deploy.py model.nir --encode random:rate=0.2 --steps 50
                                                     an encoder and its parameters
  python deploy.py model.nir --profile loihi1        another built-in profile, or --profile my_chip.yaml
  python deploy.py sinabs_net.nir --target cpu       a file from Sinabs, Rockpool, Norse or snnTorch: read as that framework runs it
  python deploy.py braille.nir --reset subtract --reset-delay no
                                                     say what the file cannot (snnTorch's reset); --dialect overrides detection
  python deploy.py model.nir --target none --profile kapoho_point
                                                     dry run: compile, map onto cores and report; run nothing
  python deploy.py --target cpu --finetune 3         fine-tune the demo through the fixed-point forward pass, then deploy
  python deploy.py model.pt --finetune 3 --finetune-data train.npz --input test.npy
                                                     the same for your snnTorch model and labelled data
  python deploy.py net.nir --learn rules.yaml --data train.npz --test-data test.npz --epochs 2 --target cpu
                                                     learn on the chip (STDP, R-STDP, any Loihi rule: docs/learning.md),
                                                     write learned.nir, evaluate after each epoch, deploy the learned network
  python deploy.py model.py:build --target cpu       a Brian2 network: runs YOUR file model.py (your explicit choice, like
                                                     running your script) and reads the Network build() returns (docs/brian2.md)
  python deploy.py examples/diehl_cook_brian2.py:build --learn --data digits --target cpu
                                                     a Brian2 network learns on the chip with its own STDP rule

data (--data): a .npz with x (samples) and optional y (classes), a .npy, an event file (.bin N-MNIST, .aedat, .npy, .dat),
a folder of event files with one subfolder per class, or a built-in set that ships offline: digits (8x8), digits28 (28x28),
mnist1d (40 values); built-ins take split=train|test|all (default test) and max=M (values in [0, M]).

outputs (in --report-dir): report.json (all numbers, documented in docs/report.md); with --plots
report.png (per-layer plots), mesh.png (each chip's mesh of cores, coloured by use), confusion.png (with labels: one
confusion matrix per run); spikes.npz (with --record: one (steps, batch, n) array per layer),
finetuned.nir and finetuned_state_dict.pt (with --finetune), learned.nir (with --learn); --save-compiled writes the compiled network.
exit status: 0 ok, 2 bad input (one-line error, nothing written), 3 --verify found a difference,
130 / 143 interrupted by Ctrl-C / SIGTERM (every process stopped, temporary files removed, nothing written).
"""


def build_parser(prog: str = "neurodeploy") -> argparse.ArgumentParser:
    from .backends import TARGETS, bit_exact_targets
    from .data import LAYOUTS
    from .dialects import DIALECTS
    from .encoders import ENCODERS
    from .frontends.model import MODEL_RULES
    from .reports.accuracy import DECISIONS

    parser = _OneLineErrorParser(
        prog=prog,
        description="Compile a spiking neural network (NIR file or saved snnTorch model) to Loihi fixed point, "
        "map it onto cores, run it on your data, and report accuracy against the float model, and neurons, synapses, "
        "cores, spikes, synaptic operations, energy and latency per layer.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?", help="a .nir file, a saved snnTorch model (.pt: a whole module, or a state_dict with --model-class), "
                        "a compiled network (.ndz, from --save-compiled or neurodeploy.compile), or FILE.py:FUNCTION, a Brian2 network that "
                        "FUNCTION returns (this runs FILE.py: only give your own code); omit for the built-in demo")
    parser.add_argument("--model-class", metavar="MODULE:CLASS", help="the model is a state_dict (torch.save(model.state_dict(), path)) "
                        "of this nn.Module class: pkg.module:Net (importable from here or the working directory) or path/to/file.py:Net")
    parser.add_argument("--model-args", metavar="JSON", help="the class's constructor arguments: a JSON object of keyword arguments, "
                        "e.g. '{\"hidden\": 1000}', or a list of positional ones")
    parser.add_argument("--target", choices=(*TARGETS.names(), "none"), default="loihi-sim",
                        help="; ".join(f"{name}: {TARGETS.get(name).summary}" for name in TARGETS.names())
                        + "; none: compile, map and report only (default: loihi-sim)")
    parser.add_argument(
        "--profile", help="hardware profile: a name in hw_profiles/ (loihi1, loihi2, kapoho_point) or a .yaml path "
        "(default: loihi2; a compiled network keeps its own)"
    )
    parser.add_argument("--data", metavar="FILE|DIR|NAME", help="labelled data: a .npz (x, optional y), .npy, event file, folder of "
                        "event files (DIR/<class>/*), or a built-in set: digits, digits28, mnist1d (NAME:split=test,max=1); raw samples "
                        "need --encode; the report gives float and target accuracy and confusion.png")
    parser.add_argument("--labels", metavar="FILE.npy", help="one class per sample of --data, where the data holds none (or to replace them)")
    parser.add_argument("--layout", choices=LAYOUTS, help="how --data is laid out: samples (samples, *shape) of raw values for --encode "
                        "(default), steps-first (steps, samples, *shape) or samples-first (samples, steps, *shape) encoded already; "
                        "with --input: steps-first (default) or samples-first")
    parser.add_argument("--decision", choices=tuple(DECISIONS), default="spike-count",
                        help="how the output layer gives a class: " + "; ".join(f"{k}: {v}" for k, v in DECISIONS.items())
                        + " (default: spike-count; ties by spike count, then summed membrane potential)")
    parser.add_argument("--input", metavar="FILE.npy", help="encoded input array, shape (steps, batch, *input_shape) (with --layout "
                        "samples-first: (batch, steps, *input_shape)); raw samples go in --data; "
                        "0/1 values are spikes, others graded (the same as --encode file:path=FILE.npy)")
    parser.add_argument("--encode", metavar="NAME[:KEY=VALUE,...]", help="the encoder that makes the input, with its parameters: "
                        + "; ".join(f"{name}: {ENCODERS.get(name).summary}" for name in ENCODERS.names())
                        + " (default: the model's own data, else random)")
    parser.add_argument("--steps", type=int, help="steps to run (input is cut or zero-padded); random input default: 100")
    parser.add_argument("--batch", type=int, help="number of samples (the first B of the input); random input default: 1")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input and of the demo (default: 0)")
    parser.add_argument("--rate", type=float, default=0.1, help="spike probability per input per step of the random input "
                        "(default: 0.1; the same as --encode random:rate=RATE)")
    parser.add_argument("--dt", type=float, help="time step in seconds (default: from the model, else 1e-4; Norse files: 1e-3)")
    parser.add_argument("--dialect", choices=DIALECTS.names(), help="read a NIR file as the framework that wrote it runs it (default: detected "
                        "from the file; the report says why): " + "; ".join(f"{d}: {DIALECTS.get(d).summary}" for d in DIALECTS.names()))
    parser.add_argument("--reset", choices=("subtract", "zero"), help="snnTorch's reset mechanism, which NIR files do not store (also Norse "
                        "LIF: subtract for reset_subtract); default: node metadata, else snnTorch's 'subtract', with a warning")
    parser.add_argument("--reset-delay", type=_yes_no, metavar="{yes,no}", help="snnTorch's reset_delay, which NIR files do not store "
                        "(default: node metadata, else snnTorch's yes, with a warning)")
    parser.add_argument("--min-v-mem", metavar="{threshold,none,VALUE}", help="Sinabs IF membrane floor, which NIR files do not store "
                        "(default: threshold, i.e. -v_threshold as Sinabs' importer sets it, with a warning)")
    parser.add_argument("--norm-input", type=_yes_no, metavar="{yes,no}", help="Sinabs LIF norm_input, which NIR files do not store "
                        "(default: no, as Sinabs' importer, with a warning)")
    parser.add_argument("--input-shape", type=_shape, metavar="C,H,W", help="shape of one input sample, for snnTorch models that do not start with nn.Linear")
    parser.add_argument("--report-dir", default="report", help="where report.json (and the plots, spikes.npz) go (default: ./report)")
    parser.add_argument("--plots", action="store_true", help="also draw report.png, mesh.png and, with labels, confusion.png "
                        "(matplotlib: about a second more)")
    parser.add_argument("--record", action="store_true", help="also save every layer's spike raster to REPORT_DIR/spikes.npz")
    parser.add_argument("--verify", action="store_true", help="also run a second bit-exact target (--verify-against) and compare spikes, u and v "
                        "bit for bit with the --target's (exit 3 on a difference)")
    parser.add_argument("--verify-against", choices=bit_exact_targets(), metavar="TARGET",
                        help=f"the second target of --verify (implies it), one of {', '.join(bit_exact_targets())} "
                        "(default: loihi-sim, or cpu when --target is loihi-sim)")
    parser.add_argument("--weight-scaling", choices=("channel", "layer"), default="channel",
                        help="fixed-point scale: one per neuron / output channel, so every neuron's weights use the full 8-bit "
                        "mantissa (default), or one per layer (needed for Lava's own LIF process)")
    parser.add_argument("--calibration", choices=("worst-case", "data"), default="worst-case",
                        help="how fixed-point scales keep u and v within 24 bits: assume every input active at every step "
                        "(worst-case, default), or use the ranges the float model reaches on the calibration data, doubled (data)")
    parser.add_argument("--convert", nargs="?", const="", metavar="KEY=VALUE,...", help="the model is a trained ReLU ANN (an ANN file: "
                        "docs/conversion.md) to convert to integrate-and-fire neurons with data-based weight normalisation; settings: "
                        "percentile=99.9, output_percentile=100, input=rate|current, maxpool=or|avg; needs --calibration-data x.npz "
                        "(x: calibration samples; optional y, and x_test, y_test to evaluate on, or --data); --steps defaults to 100")
    parser.add_argument("--calibration-data", metavar="FILE.npy", help="with --convert: a .npz of calibration samples (see --convert); otherwise "
                        "calibration input (same layout as --input) for --calibration data and "
                        "the overflow analysis in the report (default: the run's input)")
    parser.add_argument("--device", default="cpu", help="torch device of --target torch, e.g. cuda (default: cpu)")
    parser.add_argument(
        "--per-core",
        action="store_true",
        help="loihi-sim: build the mapped network in Lava core by core (one process per layer slice, as placed on the chip) "
        "instead of one per layer; same results",
    )
    parser.add_argument("--finetune", type=int, default=0, metavar="EPOCHS",
                        help="first fine-tune the snnTorch model (.pt or the demo) for EPOCHS epochs through the exact fixed-point "
                        "forward pass (straight-through gradients), then deploy it; writes finetuned.nir and finetuned_state_dict.pt")
    parser.add_argument("--finetune-data", metavar="FILE.npz", help="labelled training data for --finetune: arrays 'inputs' "
                        "(steps, samples, *input_shape) and 'labels' (samples,); default for the demo: its training split")
    parser.add_argument("--finetune-lr", type=float, metavar="LR", help="learning rate of --finetune (default: 1e-3, Adam)")
    parser.add_argument("--save-compiled", metavar="FILE.ndz", help="also write the compiled network (every stage, the profile and the "
                        "encoder) to one versioned file: run it later on any target without compiling (give it as the model)")
    parser.add_argument("--memory-limit", metavar="SIZE", help="refuse a run whose estimated memory (input, parameters, engine state, "
                        "recordings) exceeds SIZE, e.g. 8GiB or 2e9 bytes (default: 80%% of this machine's memory)")
    parser.add_argument("--trust-pickle", action="store_true", help="allow a .pt file that holds a pickled nn.Module (torch.save(model)): "
                        "unpickling can run any code the file carries, so use it only for files you trust; without it .pt files "
                        "load with torch.load(weights_only=True), which runs none (a state_dict with --model-class needs no trust)")
    parser.add_argument("--workers", type=int, metavar="N", help="shard the samples over N local worker processes (Ray, started here "
                        "and stopped after the run); the report is the same bit for bit")
    parser.add_argument("--cluster", metavar="ADDRESS", help="shard the samples over the workers of a running Ray cluster "
                        "(HEAD:6379, ray://HEAD:10001 or auto; see docs/scale-out.md)")
    parser.add_argument("--learn", metavar="RULES.yaml", nargs="?", const=MODEL_RULES,
                        help="learn on the chip first: a learning specification (which synapses learn, "
                        "their rule, inhibition, homeostasis, reward, readout; docs/learning.md), run on --target (cpu, cpu-numpy, "
                        "loihi-sim, float) on --data (a built-in set: its train split); writes learned.nir and deploys the learned "
                        "network on --test-data. Raw samples are rate-coded (x * --rate per step, --steps, default 100) unless --encode says otherwise; "
                        "--learn without a file: the plasticity the model states itself (a Brian2 network's STDP or R-STDP)")
    parser.add_argument("--epochs", type=int, default=1, help="passes over --data of --learn (default: 1)")
    parser.add_argument("--test-data", metavar="FILE|DIR|NAME", help="test data of --learn, read and encoded as --data "
                        "(default for a built-in set: its test split)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    return parser


class _UsageError(Exception):
    pass


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (like every other user error), not a usage block."""

    def error(self, message: str):
        if "expected one argument" in message:
            message += " (a value that starts with '-' is written --option=VALUE, e.g. --dt=-1e-4)"
        raise _UsageError(f"{message}; see {self.prog} --help")


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: give yes or no")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of sizes, e.g. 2,34,34") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive")
    return shape


# OpenBLAS's worker threads (numpy's and scipy's libraries each start one per core) busy-wait
# for about 2^28 cycles after loading and after each product: on a machine whose cores run the
# engines' own threads, that waiting takes their time. 2^4 cycles: they sleep at once.
BLAS_THREAD_TIMEOUT = {"OPENBLAS_THREAD_TIMEOUT": "4"}
# the collector's thresholds for the command's process: importing numba and loading its kernels
# allocates objects by the million that live to the end, which at Python's defaults (700, 10, 10)
# the collector walks again and again, in full too
GC_THRESHOLDS = (10_000, 50, 10)


def run(prog: str = "neurodeploy") -> None:
    """The command as a process of its own (deploy.py, ``python -m neurodeploy``, the console
    script): exits with ``main``'s status. Settings of the process that a caller of ``main``
    (a test, a notebook) keeps for itself are made here: OpenBLAS's threads do not busy-wait
    (unless the environment says otherwise; read when numpy loads, which ``main`` imports),
    the cyclic garbage collector runs less often, and the interpreter's last collections skip
    the objects of the finished run."""
    for name, value in BLAS_THREAD_TIMEOUT.items():
        os.environ.setdefault(name, value)
    gc.set_threshold(*GC_THRESHOLDS)
    status = main(prog=prog)
    gc.freeze()  # exiting, the interpreter would walk every object left (numba's loaded kernels most) looking for cycles
    sys.exit(status)


def main(argv: list[str] | None = None, prog: str = "neurodeploy") -> int:
    """Run the command line; the exit status (0 ok, 2 bad input, 3 --verify failed, 130/143 interrupted)."""
    written: list[str] = []  # the report directory, once the report is in it
    with interruptible():
        try:
            return _main(argv, prog, written)
        except KeyboardInterrupt:
            return _interrupted(signal.SIGINT, written)
        except Interrupted as stop:
            return _interrupted(stop.signal_number, written)


def _main(argv: list[str] | None, prog: str, written: list[str]) -> int:
    try:
        from .errors import UserError
        from .limits import parse_size
        from .pipeline import DeployOptions, check_report_dir, deploy, save_compiled, write_outputs
        from .reports.render import render_json, render_table
    except ImportError as exc:
        print(f"error: neurodeploy's dependencies are not installed ({exc}); run `make setup` (see README.md)", file=sys.stderr)
        return 2
    try:
        try:
            args = build_parser(prog).parse_args(argv)
        except SystemExit as done:  # --help
            return int(done.code or 0)
        check_report_dir(args.report_dir)
        options = DeployOptions(
            model=args.model, target=args.target, profile=args.profile, input=args.input, encode=args.encode, steps=args.steps,
            batch=args.batch, seed=args.seed, rate=args.rate, dt=args.dt, dialect=args.dialect, reset=args.reset, reset_delay=args.reset_delay,
            min_v_mem=args.min_v_mem, norm_input=args.norm_input, input_shape=args.input_shape, record=args.record, plots=args.plots, verify=args.verify,
            per_core=args.per_core, weight_scaling=args.weight_scaling, calibration_data=args.calibration_data, calibration=args.calibration,
            progress=True, finetune_epochs=args.finetune, finetune_data=args.finetune_data, finetune_learning_rate=args.finetune_lr,
            verify_against=args.verify_against, device=args.device, trust_pickle=args.trust_pickle, convert=args.convert,
            memory_limit=None if args.memory_limit is None else parse_size(args.memory_limit),
            data=args.data, labels=args.labels, layout=args.layout, decision=args.decision, model_class=args.model_class,
            model_args=args.model_args, workers=args.workers, cluster=args.cluster,
            learn=args.learn, epochs=args.epochs, test_data=args.test_data,
        )
        with _warnings_shown_only_for_pickles():
            outcome = deploy(options)
        with deferred():  # a signal during the commit acts after it, knowing the report is written
            if args.save_compiled:
                saved = save_compiled(outcome, options, args.save_compiled)
            write_outputs(outcome.files, args.report_dir)
            written.append(args.report_dir)
    except (UserError, _UsageError) as error:
        print(f"error: {one_line(str(error))}", file=sys.stderr)
        return getattr(error, "exit_status", 2)
    print(render_json(outcome.report) if args.json else render_table(outcome.report))
    if not args.json:
        print(f"\nwrote {', '.join(sorted(outcome.files))} to {args.report_dir}/")
        if args.save_compiled:
            print(f"wrote the compiled network to {saved}")
    if outcome.verify_failed:
        print(f"error: --verify: {outcome.report.verify['first_difference']['message']}", file=sys.stderr)
        return 3
    return 0


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: an error is one line,
    whatever file name or value it quotes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())


@contextlib.contextmanager
def _warnings_shown_only_for_pickles():
    """Library warnings are noise here, except the one that a model file is being unpickled
    (--trust-pickle), which is printed as one line."""

    def show(message, category, *_args, **_kwargs):
        print(f"warning: {one_line(str(message))}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", PickleWarning)
        warnings.showwarning = show
        yield


def _interrupted(signal_number: int, written: list[str]) -> int:
    print(f"interrupted; the report was already written to {written[0]}/" if written else "interrupted; nothing written", file=sys.stderr)
    return 128 + int(signal_number)


if __name__ == "__main__":
    sys.exit(main())
