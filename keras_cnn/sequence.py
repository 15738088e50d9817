"""Training several runs into one folder, one after another: the loop `lab` and `study` share.

Finished runs are skipped, an interrupted one resumes and a finished run asked for more epochs is
extended (the folder's state, `rundir.run_state`, says which); a run that diverges is reported and
the next one goes on.
"""

import os

from keras_cnn.config import TrainConfig
from keras_cnn.errors import RunDirError
from keras_cnn.rundir import CONFIG_FILE, METRICS_FILE, changed_settings, is_longer, run_state


def check_existing_runs(out: str, configs: dict[str, TrainConfig], command: str) -> None:
    """A run directory in `out` must hold a run of the same settings: it is then skipped or resumed, never mixed.

    Checked before any training, so that a conflict never waits behind hours of it. `command` names
    what to rerun in the error ("lab", "study flip").
    """
    for name, config in configs.items():
        run_dir = os.path.join(out, name)
        if not os.path.exists(os.path.join(run_dir, CONFIG_FILE)):
            continue
        changed = changed_settings(run_dir, config)
        if changed and not is_longer(run_dir, config):  # a longer run of the same settings is extended
            state = "finished" if os.path.exists(os.path.join(run_dir, METRICS_FILE)) else "unfinished"
            raise RunDirError(
                f"{run_dir} holds a {state} run with other settings ({'; '.join(changed)}): rerun {command} with the "
                f"settings it was started with, or choose another --out"
            )


def train_runs(out: str, configs: dict[str, TrainConfig], label: str = "", *, verbose="auto", tensorboard: bool = True,
               tensorboard_histograms: bool = False, say=print) -> dict[str, str]:
    """Train each config into out/<name> in turn; return each one's outcome: "trained", "resumed", "extended",
    "finished" (done before: skipped) or "diverged". `label` starts each progress line ("dropout-rate ")."""
    import keras

    from keras_cnn.training import TrainingDiverged, train_config

    outcomes = {}
    for number, (name, config) in enumerate(configs.items(), 1):
        run_dir = os.path.join(out, name)
        tag = f"[{label}{number}/{len(configs)}] {name}"
        state = run_state(run_dir, config)
        if state == "finished":
            say(f"{tag}: already finished in {run_dir}, skipped")
            outcomes[name] = "finished"
            continue
        say(f"{tag}: extending {run_dir} to {config.epochs} epochs" if state == "extended" else
            f"{tag}: {'resuming' if state == 'resumed' else 'training'} into {run_dir}")
        keras.backend.clear_session()  # free the previous run's model and start from a fresh state
        try:
            train_config(config, run_dir=run_dir, verbose=verbose, tensorboard=tensorboard,
                         tensorboard_histograms=tensorboard_histograms)
            outcomes[name] = "trained" if state == "new" else state
        except TrainingDiverged as error:
            say(f"{tag}: {error}; going on with the next run")
            outcomes[name] = "diverged"
    return outcomes
