"""Train tab: a short SG-RLVR (or SFT) run of the tiny model on the bundled scenes, started from the
app as a `spacer train` subprocess (the same command a user would type; no second trainer), its
curves and rollouts drawn live from the files it writes, stoppable, one run at a time. A finished
run is handed to the Rollouts tab, and its model to the Ask and Evaluate tabs."""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import gradio as gr

from spacer_core.train.rollout_log import FILENAME as ROLLOUTS
from spacer_ui.model import ModelHost
from spacer_ui.paths import ASSETS, REPO, PathRefused, Roots
from spacer_ui.rollouts import COLUMNS, WIDTHS, RolloutsTab, load_steps, training_runs

CONFIGS = {"rl": REPO / "configs" / "sg_rlvr_tiny.yaml", "sft": REPO / "configs" / "sft_tiny.yaml"}
TRAIN_FILE = ASSETS / "sim" / "train.jsonl"
STAGES = [("SG-RLVR (GRPO with verifiable rewards)", "rl"), ("SFT cold start", "sft")]
REWARDS = ["map reward", "temporal (shuffled-frame rollouts)", "length bonus"]
LEARNING_RATE = {"rl": 1e-4, "sft": 1e-3}  # the configs' own
LOG_FILE = "train.log"
# torch threads of a run: a core is left to the app (whose model answers Ask and Evaluate meanwhile);
# threads that share a busy core spin at every barrier and made a run 15x slower here.
TRAIN_THREADS = max(1, (os.cpu_count() or 1) - 1)
LOG_LINES = 14
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Settings:
    """What the tab asks for; `argv` turns it into `spacer train` arguments."""

    stage: str = "rl"
    steps: int = 12
    generations: int = 4
    prompts: int = 2  # per step (RL: a batch of prompts × G completions; SFT: the batch size)
    rewards: list[str] = field(default_factory=lambda: list(REWARDS))
    learning_rate: float = LEARNING_RATE["rl"]
    max_completion_length: int = 640  # the evaluations' budget: the shipped model writes up to about 500
    start_from: str = "tiny"

    def argv(self, out: Path) -> list[str]:
        batch = self.prompts * self.generations if self.stage == "rl" else self.prompts
        args = ["train", "--config", str(CONFIGS[self.stage]), "--model", self.start_from,
                "--train_file", str(TRAIN_FILE), "--output_dir", str(out), "--max_steps", str(self.steps),
                "--per_device_train_batch_size", str(batch), "--learning_rate", str(self.learning_rate),
                "--logging_steps", "1", "--save_strategy", "no"]
        if self.stage == "rl":
            on = set(self.rewards)
            # The length window is the tiny recipe's: the same part of the completion budget as SpaceR's.
            args += ["--num_generations", str(self.generations), "--max_completion_length",
                     str(self.max_completion_length), "--length_low", str(self.max_completion_length * 5 // 16),
                     "--length_high", str(self.max_completion_length // 2),
                     "--map_reward", str(REWARDS[0] in on), "--temporal", str(REWARDS[1] in on),
                     "--length_rule", str(REWARDS[2] in on)]
        return args

    def check(self, out: Path) -> None:
        """Parse the arguments as `spacer train` will (TRL's own checks included), so that a bad
        combination is refused here with its message instead of failing in the subprocess."""
        from spacer_core.train.config import parse

        argv = self.argv(out)
        try:
            parse(argv[2], None, argv[3:])
        except (ValueError, SystemExit) as err:
            raise gr.Error(f"these settings cannot train: {err}") from None


@dataclass
class Job:
    """One `spacer train` subprocess; its output (stdout and stderr) goes to ``out/train.log``."""

    out: Path
    settings: Settings
    proc: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    stopped: bool = False

    @property
    def running(self) -> bool:
        if self.proc.poll() is None:
            return True
        if self.ended is None:
            self.ended = time.monotonic()
        return False

    @property
    def model(self) -> Path:
        return self.out / "final"

    def succeeded(self) -> bool:
        return not self.running and self.proc.returncode == 0 and self.model.is_dir()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (Popen ignores a process that has already
        ended)."""
        if not self.running:
            return
        self.stopped = True
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.running  # noqa: B018 (records the end time)

    def log_tail(self, lines: int = LOG_LINES) -> str:
        """The log's last lines, without the Trainer's metric dicts (they are drawn from metrics.jsonl)
        and with each progress bar's last state only."""
        path = self.out / LOG_FILE
        if not path.is_file():
            return ""
        text = path.read_text(encoding="utf-8", errors="replace")[-50_000:]
        shown: list[str] = []
        for line in text.split("\n"):
            line = line.rsplit("\r", 1)[-1].rstrip()  # progress bars redraw with carriage returns
            if line and not line.startswith("{'") and (not shown or line != shown[-1]):
                shown.append(line)
        return "\n".join(shown[-lines:])


class Trainer:
    """The app's training runs: at most one at a time for every browser session together; each
    session remembers the run it started (a gr.State holding the run's folder)."""

    def __init__(self, roots: Roots):
        self.roots = roots
        self.job: Job | None = None  # the newest run
        self.jobs: dict[str, Job] = {}  # every run started here, by folder
        self._lock = threading.Lock()
        # A run does not outlive the app: stopped at exit (`spacer ui` turns SIGTERM into an exit);
        # it shares the app's process group, so a terminal's Ctrl-C reaches it too.
        atexit.register(self.stop)

    @property
    def runs_dir(self) -> Path:
        return self.roots.runs / "app"

    def start(self, settings: Settings, name: str | None = None) -> Job:
        with self._lock:
            if self.job is not None and self.job.running:
                raise gr.Error(f"a run is already going ({self.roots.shown(self.job.out)}); stop it first")
            name = (name or "").strip() or f"{settings.stage}-{datetime.now():%Y%m%d-%H%M%S}"
            if not _NAME.match(name):
                raise gr.Error(f"run name {name!r}: use letters, digits, '.', '_' and '-' only")
            out = self.runs_dir / name
            if out.exists():
                raise gr.Error(f"{self.roots.shown(out)} already exists: choose another run name")
            settings.check(out)
            out.mkdir(parents=True)
            with open(out / LOG_FILE, "w") as log:
                cmd = [sys.executable, "-m", "spacer_core.cli", *settings.argv(out)]
                log.write("$ spacer " + " ".join(cmd[3:]) + "\n")
                log.flush()
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env={"OMP_NUM_THREADS": str(TRAIN_THREADS), **os.environ,
                                             "PYTHONUNBUFFERED": "1"})
            self.job = self.jobs[str(out)] = Job(out, settings, proc)
            return self.job

    def find(self, folder: str | None) -> Job | None:
        """The run started in ``folder`` (a session's state), else the newest run."""
        return self.jobs.get(folder or "") or self.job

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    def finished_models(self) -> list[str]:
        """Start points for a new run: the shipped tiny model, then the app's runs that saved their
        model to the end (the log's last line says so), newest first."""
        done = [p.parent for p in self.runs_dir.glob(f"*/{LOG_FILE}") if (p.parent / "final").is_dir()
                and p.read_text(errors="replace").rstrip().endswith(f"trained model saved to {p.parent / 'final'}")]
        done.sort(key=lambda p: (p / "final").stat().st_mtime, reverse=True)
        return ["tiny", *(self.roots.shown(p / "final") for p in done)]


def curves(job: Job):
    """RL: the reward terms per step from the rollout log (as the Rollouts tab); SFT: the loss."""
    import plotly.graph_objects as go

    from spacer_core.train.metrics_log import read_metrics
    from spacer_ui.rollouts import curves as reward_curves

    if job.settings.stage == "rl":
        steps = load_steps(job.out) if (job.out / ROLLOUTS).is_file() else {}
        fig = reward_curves(steps)
    else:
        rows = [r for r in read_metrics(job.out) if "loss" in r]
        fig = go.Figure(go.Scatter(x=[r["step"] for r in rows], y=[r["loss"] for r in rows], mode="lines+markers",
                                   name="loss"))
        fig.update_layout(template="plotly_white", height=320, title="SFT loss over steps",
                          xaxis={"title": "step"}, yaxis={"title": "loss"},
                          margin={"l": 10, "r": 10, "t": 50, "b": 40})
    # The whole run's width from the start (the rollout log counts steps from 0, the Trainer from 1).
    first = 0 if job.settings.stage == "rl" else 1
    fig.update_xaxes(range=[first - 0.5, first + job.settings.steps - 0.5])
    return fig


def latest_rollouts(job: Job) -> list[list]:
    """The last logged step's first prompt: its completions and their rewards (RL only)."""
    from spacer_ui.rollouts import _groups, table

    if job.settings.stage != "rl" or not (job.out / ROLLOUTS).is_file():
        return []
    steps = load_steps(job.out)
    if not steps:
        return []
    groups = _groups(steps[max(steps)])
    return table(next(iter(groups.values())))


def progress(job: Job, roots: Roots) -> str:
    """One status line: where the run is, or how it ended."""
    from spacer_core.train.metrics_log import read_metrics

    rows = read_metrics(job.out)
    step = rows[-1]["step"] if rows else 0
    where = f"`{roots.shown(job.out)}`"
    elapsed = (job.ended or time.monotonic()) - job.started
    if job.running:
        what = "loading the model and data" if not step else f"step {step} of {job.settings.steps}"
        return f"⏳ Training ({what}, {elapsed:.0f} s) → {where}"
    if job.stopped:
        return f"■ Stopped at step {step} of {job.settings.steps} after {elapsed:.0f} s → {where}"
    if job.succeeded():
        return (f"✓ Finished {step} steps in {elapsed:.0f} s → model in `{roots.shown(job.model)}`. Open its "
                "rollouts, or use the model in the Ask and Evaluate tabs.")
    return f"✗ The run failed (exit code {job.proc.returncode}) after {elapsed:.0f} s; its log is below → {where}"


def build(host: ModelHost, roots: Roots, tab: gr.Tab, tabs: gr.Tabs, rollouts_tab: RolloutsTab,
          header: gr.Markdown) -> None:
    """The tab's components and events (call inside ``tab``). A finished run opens in
    ``rollouts_tab`` (``tabs`` switches to it); its model replaces the app's (``header`` shows it)."""
    trainer = Trainer(roots)
    default = Settings()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320, elem_classes=["panel"]):
            stage = gr.Radio(STAGES, value=default.stage, label="Stage", elem_id="train-stage")
            start_from = gr.Dropdown(trainer.finished_models(), value="tiny", label="Start from",
                                     info="the shipped tiny model, or a run finished here", elem_id="train-from")
            with gr.Row():
                steps = gr.Slider(1, 200, step=1, value=default.steps, label="Steps", elem_id="train-steps")
                prompts = gr.Slider(1, 8, step=1, value=default.prompts, label="Prompts per step",
                                    elem_id="train-prompts")
            with gr.Group() as rl_only:
                generations = gr.Slider(2, 8, step=1, value=default.generations, label="G (completions per prompt)",
                                        elem_id="train-g")
                rewards = gr.CheckboxGroup(REWARDS, value=default.rewards, label="Rewards besides format and "
                                           "answer accuracy", elem_id="train-rewards")
                max_len = gr.Slider(32, 1024, step=16, value=default.max_completion_length,
                                    label="Max completion tokens", elem_id="train-max-len")
            learning_rate = gr.Number(default.learning_rate, label="Learning rate", minimum=0, elem_id="train-lr")
            name = gr.Textbox(label="Run name", placeholder="automatic: stage-date-time", elem_id="train-name",
                              info=f"written to {roots.shown(trainer.runs_dir)}/NAME; data: "
                                   f"{roots.shown(TRAIN_FILE)} (the bundled scenes)")
            with gr.Row():
                start = gr.Button("Start training", variant="primary", elem_id="train-start")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="train-stop")
        with gr.Column(scale=3, min_width=420):
            status = gr.Markdown(f"Defaults: {default.steps} SG-RLVR steps of {default.prompts} prompts × "
                                 f"{default.generations} completions (and half as many on shuffled frames), under a "
                                 "minute on a laptop CPU. The same as `spacer train --config "
                                 "configs/sg_rlvr_tiny.yaml` with these settings (the log's first line).",
                                 elem_classes=["status"], elem_id="train-status")
            plot = gr.Plot(label="Curves, live", elem_id="train-curves")
            table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, max_chars=120, column_widths=WIDTHS,
                                 label="Newest step: the first prompt's completions", elem_id="train-table")
            log = gr.Code("", label=f"{LOG_FILE} (last lines)", language=None, lines=8, elem_id="train-log")
            with gr.Row():
                to_rollouts = gr.Button("Open in Rollouts", interactive=False, elem_id="train-to-rollouts")
                use_model = gr.Button("Use this model in Ask and Evaluate", interactive=False,
                                      elem_id="train-use-model")
                back = gr.Button(f"Back to {host.name}", elem_id="train-back")
    mine = gr.State(None)  # the folder of the run this session started
    timer = gr.Timer(1.0, active=False)

    def views(folder: str | None):
        """(status, curves, table, log, timer, start, stop, to_rollouts, use_model) for this session's
        run, else the newest run (started in another session)."""
        job = trainer.find(folder)
        if job is None:
            return (gr.update(),) * 4 + (gr.Timer(active=False), gr.update(interactive=True),
                                         gr.update(interactive=False), gr.update(), gr.update())
        running, done = job.running, job.succeeded()
        busy = trainer.job is not None and trainer.job.running
        return (progress(job, roots), curves(job), latest_rollouts(job), job.log_tail(), gr.Timer(active=running),
                gr.update(interactive=not busy), gr.update(interactive=running),
                gr.update(interactive=(job.out / ROLLOUTS).is_file() and not running), gr.update(interactive=done))

    def on_start(stage_, from_, steps_, prompts_, g, rewards_, max_len_, lr, name_):
        if not lr or lr <= 0:
            raise gr.Error("learning rate: give a positive number")
        start_model = from_ or "tiny"
        if start_model != "tiny":
            try:
                start_model = str(roots.resolve(start_model, "start from", kind="dir"))
            except PathRefused as err:
                raise gr.Error(str(err)) from None
        job = trainer.start(Settings(stage_, int(steps_), int(g), int(prompts_), list(rewards_ or []), float(lr),
                                     int(max_len_), start_model), name_)
        return str(job.out), *views(str(job.out))

    def on_stop(folder):
        job = trainer.find(folder)
        if job is not None:
            job.stop()
        return views(folder)

    def finished(folder) -> Job:
        job = trainer.find(folder)
        if job is None or not job.succeeded():
            raise gr.Error("no finished run to hand over")
        return job

    def on_use_model(folder):
        host.switch(str(finished(folder).model))
        return host.status()

    original = host.name

    def on_back():
        if host.name != original:
            host.switch(original)
        return host.status()

    def on_to_rollouts(folder):
        job = trainer.find(folder)
        if job is None or not (job.out / ROLLOUTS).is_file():
            raise gr.Error("no training run with rollouts to open")
        # the run's own training data (its spacer_args.json), not a file typed in that tab earlier
        return gr.Tabs(selected="rollouts"), gr.update(choices=training_runs(roots), value=roots.shown(job.out)), ""

    live = [status, plot, table, log, timer, start, stop, to_rollouts, use_model]
    ui_only = {"queue": False, "api_visibility": "private"}
    stage.input(lambda s: (LEARNING_RATE[s], gr.Group(visible=s == "rl")), stage, [learning_rate, rl_only], **ui_only)
    start.click(on_start, [stage, start_from, steps, prompts, generations, rewards, max_len, learning_rate, name],
                [mine, *live], api_name="train")
    stop.click(on_stop, mine, live, api_name="stop_training")
    timer.tick(views, mine, live, queue=False, api_visibility="private", show_progress="hidden")
    tab.select(lambda folder: (gr.update(choices=trainer.finished_models()), *views(folder)), mine,
               [start_from, *live], **ui_only)
    use_model.click(on_use_model, mine, header, **ui_only)
    back.click(on_back, None, header, **ui_only)
    to_rollouts.click(on_to_rollouts, mine, [tabs, rollouts_tab.run, rollouts_tab.train_file], **ui_only).then(
        rollouts_tab.open, rollouts_tab.inputs, rollouts_tab.outputs, api_visibility="private")
