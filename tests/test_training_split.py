"""Chapter 05 in four modules: each name has one home, and `llm_nb.training` keeps the old imports working."""
import os, subprocess, sys, warnings
from pathlib import Path
import pytest
import llm_nb.core as core, llm_nb.lmdata as lmdata, llm_nb.checkpoint as checkpoint, llm_nb.training as training, llm_nb.runs as runs

ROOT = Path(__file__).resolve().parents[1]

# names added to `llm_nb.checkpoint` after the split: they were never in `llm_nb.training`, so it need not forward them
NEW_IN_CHECKPOINT = {'RunLockedError', 'nonfinite_params', 'step_folders', 'recover_run', 'run_lock', 'open_run', 'save_in_run',
                     'resume_state'}
# names that moved from `llm_nb.training` to an earlier module and that it still uses: imported, so re-exported silently
USED_BY_TRAINING = {'tokenizer_text': checkpoint, 'peak_flops': core}

def test_moved_names_reexported_from_training():
    for mod, new in ((lmdata, set()), (checkpoint, NEW_IN_CHECKPOINT)):
        for name in set(mod.__all__) - new:
            assert name in training.__all__ and getattr(training, name) is getattr(mod, name), name
    for name, mod in USED_BY_TRAINING.items():
        assert name in training.__all__ and getattr(training, name) is getattr(mod, name), name
    assert not set(lmdata.__all__) & set(checkpoint.__all__)

def test_training_keeps_to_the_loop():
    # the run folder (lock, recovery, pruning, resuming) is `llm_nb.checkpoint`'s; the trainer only calls it
    src = Path(training.__file__).read_text(encoding='utf-8')
    for private in ('run_lock(', 'recover_run(', 'shutil.rmtree', 'signal.signal('): assert private not in src, private

def test_moved_names_forward_lazily_for_one_release():
    moved = training.__getattr__.moved                                   # name -> the module it moved to
    assert set(moved.values()) == {'llm_nb.runs', 'llm_nb.core'} and not set(moved) & set(training.__all__)
    for name, new in moved.items():
        mod = {'llm_nb.runs': runs, 'llm_nb.core': core}[new]
        assert name in mod.__all__, name                                 # the new homes have grown since: these are the old names
        with pytest.warns(DeprecationWarning, match=f'llm_nb.training.{name} has moved to {new}'):
            assert getattr(training, name) is getattr(mod, name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(AttributeError, match='no attribute'): training.no_such_name

def _fresh(code):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.run([sys.executable, '-W', 'always::DeprecationWarning', '-c', code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)

def test_training_does_not_import_runs_and_old_import_still_works():
    assert _fresh("import sys, llm_nb.training; print('llm_nb.runs' in sys.modules)").stdout.split() == ['False']
    assert _fresh("import sys, llm_nb.checkpoint; print('llm_nb.training' in sys.modules)").stdout.split() == ['False']
    r = _fresh("from llm_nb.training import build_run, RECIPES; print(build_run.__module__, 'tiny' in RECIPES)")
    assert r.stdout.split() == ['llm_nb.runs', 'True'] and 'DeprecationWarning' in r.stderr
