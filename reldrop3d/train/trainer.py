"""The training loop: explain, drop, augment, step; evaluate, checkpoint, resume."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.loader import DataLoader
from tqdm.auto import tqdm

from reldrop3d._outputs import check_output_folder
from reldrop3d.data.batching import select_clouds
from reldrop3d.data.clouds import CloudSubset, labels_of, stratified_split
from reldrop3d.drop import RandomPointDropout, RateMatchedDrop, RelDrop
from reldrop3d.evaluate import evaluate
from reldrop3d.guidance import LOSSES, check_guidance_model, forward_with_attribution
from reldrop3d.guidance.losses import guidance_term
from reldrop3d.models import build
from reldrop3d.relevance import point_relevance
from reldrop3d.train.augment import build_augment
from reldrop3d.train.cache import RelevanceCache
from reldrop3d.train.checkpoint import MODEL_KEYS, load_checkpoint, save_checkpoint
from reldrop3d.train.config import ConfigError, TrainConfig, resume_conflicts, to_toml
from reldrop3d.train.datasets import Indexed, build_split, epoch_order
from reldrop3d.train.plots import plot_curves

CHECKPOINT_VERSION = 3  # 3: the phase seconds are kept in "running", no "clock"
# what a run folder holds; any of the first three means a run is there (a config.toml
# alone may be the user's own settings file, which the run rewrites as resolved)
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.toml", "per_class.json", "curves.png")
RESUME_KEYS = MODEL_KEYS + tuple(
    "optimizer scheduler epoch batch_in_epoch running history best rng generators cache".split()
)
# the sums of an epoch over its steps (and ranks): of the metrics, and of each phase's seconds
PHASES = ("seconds_relevance", "seconds_drop", "seconds_step")
RUNNING = ("loss", "correct", "clouds", "points_in", "points_out", "guidance", "guided", *PHASES)


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where and what was kept."""


class RunExistsError(ConfigError):
    """``cfg.out`` already holds a run, and neither resuming nor overwriting was asked for."""


class Interrupted(KeyboardInterrupt):
    """Raised after a requested stop (Ctrl-C) once ``last.pt`` holds the exact state."""


def annotated_clouds(size: int, fraction: float, seed: int) -> Tensor:
    """``[size]`` bool: the training clouds whose guidance mask is used, ``max(1, round(fraction
    * size))`` of them (all for ``fraction = 1``) drawn by a generator seeded with ``seed``:
    the same subset in every epoch, on every rank, and after resuming."""
    count = size if fraction >= 1 else max(1, round(fraction * size))
    chosen = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:count]
    out = torch.zeros(size, dtype=torch.bool)
    out[chosen] = True
    return out


def epoch_line(rec: dict) -> str:
    """One line of an epoch's record for the console."""
    shown = [f"epoch {rec['epoch']:3d}", f"loss {rec['train_loss']:.3f}"]
    names = {"train_acc": "train", "val_oa": "val OA", "test_oa": "test OA", "test_macc": "mAcc"}
    shown += [f"{name} {rec[k]:.3f}" for k, name in names.items() if rec.get(k) is not None]
    shown.append(f"points {rec['points_per_cloud']:.0f}")
    shown += [f"{phase} {rec[f'seconds_{phase}']:.1f}s" for phase in ("relevance", "step")]
    return "  ".join(shown)


def training_split(dataset, cfg: TrainConfig) -> tuple[Dataset, Dataset | None]:
    """``(train, validation or None)`` from the training split of a run.

    ``train_fraction < 1`` keeps a class-stratified share of the clouds (at
    least one of each class), and ``val_fraction > 0`` holds a stratified share
    of those out for validation, both fixed by ``seed``: every run of the same
    seed trains and validates on the same clouds.
    """
    val = None
    if cfg.train_fraction < 1:
        chosen, _ = stratified_split(labels_of(dataset), cfg.train_fraction, cfg.seed)
        dataset = CloudSubset(dataset, chosen)
    if cfg.val_fraction > 0:
        held, rest = stratified_split(
            labels_of(dataset), cfg.val_fraction, cfg.seed + 1, at_least_one=False
        )
        val, dataset = CloudSubset(dataset, held), CloudSubset(dataset, rest)
    return dataset, val


class Trainer:
    r"""Trains a point-cloud classifier with RelDrop, random point dropout, or neither.

    Each step: (1) explain the current model on the batch for the true class
    (:func:`~reldrop3d.relevance.point_relevance`: eval mode, input gradients
    only, batch-norm statistics untouched; with ``reldrop_every = K > 1`` a
    sample is explained once every ``K`` epochs and otherwise read from a
    :class:`~reldrop3d.train.cache.RelevanceCache`); (2) drop points
    (``augment``); (3) scale, shift, jitter and rotate what is left; (4) take
    the optimiser step in train mode on the dropped batch.

    With ``guidance`` (:mod:`reldrop3d.guidance`) the loss of step (4) is
    ``CE + guidance_lambda * G``: one train-mode forward gives the logits and,
    by a ``create_graph`` input backward, the true class's attribution; ``G``
    is the mean guidance loss against the per-point ``mask`` (dropping and
    augmenting keep it aligned with the points) over the batch's clouds in the
    fixed annotated subset (:func:`annotated_clouds`). A batch without such a
    cloud takes a plain step.

    ``cfg.out`` receives ``config.toml``, ``metrics.jsonl`` (a line per
    epoch), ``last.pt``, with a validation split (:func:`training_split`)
    ``best.pt`` (the epoch of best validation accuracy: nothing is chosen on
    test, which is evaluated every ``test_every`` epochs and after the last),
    ``per_class.json`` and ``curves.png``. Random streams are re-seeded from
    ``(seed, epoch, rank)`` each epoch and saved with the position in the
    epoch, so a run resumed from ``last.pt`` (also one stopped mid-epoch by
    Ctrl-C) continues exactly as the uninterrupted run would.

    Args:
        cfg: the run's configuration (validated here).
        train_set, test_set: datasets to use instead of building them from ``cfg.data``.
        resume: continue the run in ``cfg.out`` from its ``last.pt``, wherever the folder
            was when it was written. ``cfg`` must match the saved configuration except in
            :data:`~reldrop3d.train.config.RESUMABLE` keys.
        overwrite: start afresh in a ``cfg.out`` that holds a run, deleting its files
            (:data:`RUN_FILES`) when training starts; without it (or ``resume``) such a
            folder is refused with :class:`RunExistsError`.
        progress: show tqdm progress bars and per-epoch lines.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        train_set=None,
        test_set=None,
        *,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool = True,
    ):
        self.cfg = cfg.validate()
        self.out = Path(cfg.out)
        self.overwrite = overwrite and not resume
        self._check_out(resume)
        self.progress = progress
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and (
            not torch.cuda.is_available() or (self.device.index or 0) >= torch.cuda.device_count()
        ):
            raise ConfigError(f"device {cfg.device!r} requested but this machine has no such GPU")
        self._join_world()

        if train_set is None or test_set is None:
            train_set, test_set = build_split(cfg, "train"), build_split(cfg, "test")
        train_set, self.val_set = training_split(train_set, cfg)
        self.train_set, self.test_set = Indexed(train_set), test_set
        self.classes = list(getattr(train_set, "classes", range(train_set.num_classes)))
        self.num_classes = len(self.classes)
        self.in_channels = 3 if cfg.use_normals else 0
        self.up_axis = int(getattr(train_set, "up_axis", 2))

        torch.manual_seed(cfg.seed)
        self.core = build(
            cfg.model, self.num_classes, in_channels=self.in_channels, **cfg.model_kwargs
        ).to(self.device)
        self.model = self.core
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.core, device_ids=ids)
        self.optimizer = torch.optim.Adam(
            self.core.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.scheduler = None
        if cfg.scheduler == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, 20, gamma=0.7)
        elif cfg.scheduler == "cosine":  # down to 0 at the last epoch
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, cfg.epochs)

        self.drop_gen = torch.Generator(device=self.device)
        self.aug_gen = torch.Generator(device=self.device)
        self.dropper = None
        if cfg.augment in ("reldrop", "reldrop-rate"):
            kind = RelDrop if cfg.augment == "reldrop" else RateMatchedDrop
            self.dropper = kind(
                cfg.alpha, cfg.beta, cfg.mode, cfg.fill, cfg.min_points, generator=self.drop_gen
            )
        elif cfg.augment == "random":
            self.dropper = RandomPointDropout(cfg.max_ratio, cfg.fill, generator=self.drop_gen)
        self.augment = build_augment(cfg, self.up_axis, self.aug_gen)
        self.guidance = None
        if cfg.guidance != "none":
            self._setup_guidance(train_set)
        self.cache = None
        if isinstance(self.dropper, RelDrop) and cfg.reldrop_every > 1:
            sizes = getattr(train_set, "sizes", None)
            max_points = int(sizes.max()) if sizes is not None else cfg.num_points
            self.cache = RelevanceCache(len(train_set), max_points, cfg.reldrop_every, self.device)

        self.epoch, self.batch_in_epoch = 0, 0
        self.running = dict.fromkeys(RUNNING, 0.0)
        self.history: list[dict] = []
        self.best = {"val_oa": -1.0, "epoch": -1}
        self._stop = False
        if resume:
            self._resume()

    # ------------------------------------------------------------------ state
    def _join_world(self) -> None:
        """Join ``torchrun``'s process group (gloo on CPU, nccl on ``cuda:LOCAL_RANK``), if any."""
        self.rank, self.world_size = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
        self.main = self.rank == 0

    def _sum_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        if self.world_size == 1:
            return values
        keys = sorted(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return dict(zip(keys, t.tolist()))

    def _setup_guidance(self, train_set) -> None:
        cfg = self.cfg
        first = train_set[0]
        mask = getattr(first, "mask", None)
        if not isinstance(mask, Tensor) or mask.shape != first.pos.shape[:1]:
            raise ConfigError(
                f"guidance={cfg.guidance!r} needs a per-point 'mask' (1 = allowed) in the "
                f"training data, and data {cfg.data!r} has none; use --data synthetic-decoy "
                f"or a dataset whose items carry mask [num_points]"
            )
        try:
            check_guidance_model(self.core)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.guidance = LOSSES[cfg.guidance]
        annotated = annotated_clouds(len(train_set), cfg.guidance_fraction, cfg.seed)
        self.annotated = annotated.to(self.device)

    def state_dict(self) -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "model": self.core.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "running": dict(self.running),
            "history": self.history,
            "best": dict(self.best),
            "config": self.cfg.to_dict(),
            "classes": self.classes,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            # Python's and NumPy's generators are not saved: nothing in reldrop3d draws from them
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            "generators": {"drop": self.drop_gen.get_state(), "augment": self.aug_gen.get_state()},
            "cache": self.cache.state_dict() if self.cache is not None else None,
        }

    def _check_out(self, resume: bool) -> None:
        """Refuse an ``out`` that is a file, cannot be written, or holds a run not to be touched."""
        try:
            check_output_folder(self.out)
        except ValueError as e:
            raise ConfigError(f"out: {e}") from None
        present = [name for name in RUN_FILES[:3] if (self.out / name).exists()]
        if present and not (resume or self.overwrite):
            raise RunExistsError(
                f"out {self.out} already holds a run ({', '.join(present)}); continue it with "
                f"--resume, or start it over with --overwrite"
            )

    def _resume(self) -> None:
        path = self.out / "last.pt"
        state = load_checkpoint(path, map_location="cpu", required=RESUME_KEYS)
        conflicts = resume_conflicts(state["config"], self.cfg.to_dict())
        if conflicts:
            key, old, new = conflicts[0]
            raise ConfigError(
                f"cannot resume {path}: it was trained with {key}={old!r}, not {new!r}"
            )
        if state["num_classes"] != self.num_classes:
            raise ConfigError(
                f"cannot resume {path}: {state['num_classes']} classes, "
                f"the data has {self.num_classes}"
            )
        self.core.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
        # version 2 kept the phase seconds apart, under "clock"
        saved = {f"seconds_{k}": v for k, v in state.get("clock", {}).items()}
        saved.update(state["running"])
        self.running = {k: saved.get(k, 0.0) for k in RUNNING}
        self.history, self.best = state["history"], state["best"]
        if self.cache is not None and state["cache"] is not None:
            self.cache.load_state_dict(state["cache"])
        if self.batch_in_epoch > 0:  # stopped mid-epoch: continue the exact random streams
            torch.set_rng_state(state["rng"]["torch"])
            if state["rng"].get("cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
            self.drop_gen.set_state(state["generators"]["drop"])
            self.aug_gen.set_state(state["generators"]["augment"])
        if self.main:
            self._write_metrics()

    # ------------------------------------------------------------------ files
    def _write_metrics(self) -> None:
        path = self.out / "metrics.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(h) + "\n" for h in self.history))
        tmp.replace(path)

    def _save(self, name: str) -> None:
        if self.main:
            save_checkpoint(self.state_dict(), self.out / name)

    # ------------------------------------------------------------------ steps
    def _explain(self, batch) -> Tensor:
        return point_relevance(
            self.core,
            batch,
            method=self.cfg.relevance,
            seed=self.cfg.relevance_seed,
            generator=self.drop_gen,
            max_clouds=self.cfg.relevance_max_clouds or None,
        )

    def _relevance(self, batch, epoch: int) -> Tensor:
        if self.cache is None:
            return self._explain(batch)
        idx = batch.idx
        due = self.cache.due(idx, epoch)
        if bool(due.all()):
            r = self._explain(batch)
            self.cache.put(idx, batch.batch, batch.ptr, r, epoch)
            return r
        r = self.cache.get(idx, batch.batch, batch.ptr)
        if bool(due.any()):
            sub = select_clouds(batch, due)
            fresh = self._explain(sub)
            self.cache.put(sub.idx, sub.batch, sub.ptr, fresh, epoch)
            r[due[batch.batch]] = fresh
        return r

    def train_step(self, batch, epoch: int) -> Tensor:
        """One step on ``batch`` (on the device); returns the loss (a 0-dim tensor)."""
        y = batch.y.view(-1)
        points_in = batch.num_nodes
        t0 = t1 = self._now()
        if isinstance(self.dropper, RelDrop):
            relevance = self._relevance(batch, epoch)
            t1 = self._now()
            batch = self.dropper(batch, relevance)
        elif self.dropper is not None:
            batch = self.dropper(batch)
        batch = self.augment(batch)
        t2 = self._now()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits, term = self._forward(batch)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if term is not None:
            loss = loss + self.cfg.guidance_lambda * term
        aux = getattr(self.core, "aux_loss", None)
        if isinstance(aux, Tensor) and aux.requires_grad:
            loss = loss + aux
        if not bool(torch.isfinite(loss)):
            kept = f"after epoch {self.history[-1]['epoch']}" if self.history else "none yet"
            raise TrainingError(
                f"loss is {float(loss.detach())} at epoch {epoch + 1}, batch "
                f"{self.batch_in_epoch + 1}; stopped. The last good checkpoint is "
                f"{self.out / 'last.pt'} ({kept})"
            )
        loss.backward()
        self.optimizer.step()
        t3 = self._now()
        n = y.numel()
        done = {
            "loss": float(loss.detach()) * n,
            "correct": float((logits.argmax(-1) == y).sum()),
            "clouds": n,
            "points_in": points_in,
            "points_out": batch.num_nodes,
            "seconds_relevance": t1 - t0,
            "seconds_drop": t2 - t1,
            "seconds_step": t3 - t2,
        }
        for key, value in done.items():
            self.running[key] += value
        return loss.detach()

    def _now(self) -> float:
        """``perf_counter`` once the device has done the work queued so far."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _forward(self, batch) -> tuple[Tensor, Tensor | None]:
        """Train-mode logits, and the guidance term ``G`` (``None`` without guidance)."""
        if self.guidance is None:
            return self.model(batch), None
        has_mask = self.annotated[batch.idx.view(-1)]
        everyone = self.cfg.guidance_fraction >= 1
        if not everyone and not bool(has_mask.any()):
            return self.model(batch), None
        logits, attribution = forward_with_attribution(
            self.model,
            batch,
            self.cfg.guidance_method,
            weight=None if everyone else has_mask,
        )
        values = self.guidance(attribution, batch.mask, batch.batch, batch.num_graphs)
        self.running["guidance"] += float(torch.where(has_mask, values.detach(), 0.0).sum())
        self.running["guided"] += float(has_mask.sum())
        return logits, guidance_term(values, has_mask)

    def evaluate(self, dataset=None) -> dict:
        """Loss, overall and mean class accuracy, per-class table on ``dataset`` (the test set)."""
        dataset = self.test_set if dataset is None else dataset
        loader = DataLoader(dataset, batch_size=self.cfg.eval_batch_size)
        return evaluate(
            self.core, loader, self.device, num_classes=self.num_classes, names=self.classes
        )

    # ------------------------------------------------------------------ loop
    def request_stop(self) -> None:
        """Ask the loop to save ``last.pt`` and stop after the current step (what Ctrl-C does)."""
        self._stop = True

    def _bar(self, iterable, total: int, initial: int, desc: str, unit: str, **kw) -> tqdm:
        """A progress bar, shown on rank 0 with ``progress``."""
        hidden = not (self.progress and self.main)
        kw.update(total=total, initial=initial, desc=desc, unit=unit, disable=hidden)
        return tqdm(iterable, dynamic_ncols=True, **kw)

    def _seed(self, epoch: int) -> None:
        """Seed the epoch's streams on this rank: torch's global one, dropping's, augmenting's."""
        base = self.cfg.seed * 1_000_003 + epoch * 7_919 + self.rank * 104_729
        torch.manual_seed(base % 2**63)  # every device's global generator
        self.drop_gen.manual_seed((base + 15_485_863) % 2**63)
        self.aug_gen.manual_seed((base + 2 * 15_485_863) % 2**63)

    def _train_epoch(self, epoch: int) -> None:
        if self.batch_in_epoch == 0:
            self._seed(epoch)
            self.running = dict.fromkeys(RUNNING, 0.0)
        for m in self.core.modules():  # published: 0.1, halved every 20 epochs, at least 0.01
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = max(0.01, 0.1 * 0.5 ** (epoch // 20))
        bs = self.cfg.batch_size
        order = epoch_order(len(self.train_set), self.cfg.seed, epoch, self.rank, self.world_size)
        # its own generator: creating the iterator must not draw from the global stream
        loader = DataLoader(
            self.train_set,
            batch_size=bs,
            sampler=order[self.batch_in_epoch * bs :],
            drop_last=True,
            generator=torch.Generator().manual_seed(epoch),
        )
        total = len(order) // bs
        desc = f"epoch {epoch + 1}"
        with self._bar(loader, total, self.batch_in_epoch, desc, "batch", leave=False) as batches:
            for batch in batches:
                loss = self.train_step(batch.to(self.device), epoch)
                self.batch_in_epoch += 1
                batches.set_postfix(loss=f"{float(loss):.3f}", refresh=False)
                if self._sum_over_ranks({"stop": float(self._stop)})["stop"] > 0:
                    self._save("last.pt")
                    raise Interrupted(f"stopped at epoch {epoch + 1}, batch {self.batch_in_epoch}")

    def _end_epoch(self, epoch: int, started: float) -> dict:
        r = self._sum_over_ranks(self.running)
        clouds = max(r["clouds"], 1.0)
        t_eval = time.perf_counter()
        every, done = self.cfg.test_every, epoch + 1
        tested = done == self.cfg.epochs or (every > 0 and done % every == 0)
        ev = self.evaluate() if self.main and tested else dict.fromkeys(("loss", "oa", "macc"))
        val = self.evaluate(self.val_set) if self.main and self.val_set else None
        record = {
            "epoch": epoch + 1,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": r["loss"] / clouds,
            "train_acc": r["correct"] / clouds,
            **({} if val is None else {f"val_{k}": val[k] for k in ("loss", "oa", "macc")}),
            "test_loss": ev["loss"],
            "test_oa": ev["oa"],
            "test_macc": ev["macc"],
            "points_per_cloud": r["points_out"] / clouds,
            "dropped_per_cloud": (r["points_in"] - r["points_out"]) / clouds,
            **{k: r[k] / self.world_size for k in PHASES},
            "seconds_eval": time.perf_counter() - t_eval,
            "seconds_epoch": time.perf_counter() - started,
        }
        if self.guidance is not None:  # mean guidance loss of the annotated clouds seen
            record["train_guidance"] = r["guidance"] / r["guided"] if r["guided"] else None
            record["guided_per_epoch"] = r["guided"]
        if self.scheduler is not None:
            self.scheduler.step()
        self.history.append(record)
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self.running = dict.fromkeys(RUNNING, 0.0)
        if self.main:
            improved = val is not None and record["val_oa"] > self.best["val_oa"]
            if improved:  # chosen on the validation split, never on test
                self.best = {"val_oa": record["val_oa"], "epoch": record["epoch"]}
            # the checkpoint first: metrics.jsonl never lists an epoch that last.pt lacks
            self._save("last.pt")
            self._write_metrics()
            if improved:
                self._save("best.pt")
            if tested:
                table = {k: record[k] for k in ("epoch", "test_oa", "test_macc")}
                (self.out / "per_class.json").write_text(
                    json.dumps({**table, "per_class": ev["per_class"]}, indent=2) + "\n"
                )
            plot_curves(self.history, self.out / "curves.png")
        if self.world_size > 1:
            dist.barrier()
        return record

    def fit(self) -> dict:
        """Train up to ``cfg.epochs`` epochs (from where a resumed run stopped); returns a summary.

        Ctrl-C stops after the current step with ``last.pt`` written; a second one at once.
        """
        cfg = self.cfg
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.overwrite:  # asked for: the old run's files go, once
                for name in RUN_FILES:
                    (self.out / name).unlink(missing_ok=True)
                self.overwrite = False
            (self.out / "config.toml").write_text(to_toml(cfg))
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum, frame):
            signal.signal(signal.SIGINT, previous)
            self.request_stop()

        # only the main thread may set a handler; elsewhere Ctrl-C is the caller's business
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            signal.signal(signal.SIGINT, on_sigint)
        try:
            with self._bar(None, cfg.epochs, self.epoch, "epochs", "epoch") as bar:
                while self.epoch < cfg.epochs:
                    epoch, started = self.epoch, time.perf_counter()
                    self._train_epoch(epoch)
                    rec = self._end_epoch(epoch, started)
                    bar.update(1)
                    if self.progress and self.main:
                        bar.write(epoch_line(rec))
        finally:
            if in_main_thread:
                signal.signal(signal.SIGINT, previous)
        return {
            "epochs": self.epoch,
            "best": self.best,
            "last": self.history[-1] if self.history else None,
            "out": str(self.out),
        }
