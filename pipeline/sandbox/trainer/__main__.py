"""Inside the sandbox: `python -m pipeline.sandbox.trainer build|train <submission_dir> <workdir>`.

`build` runs the student's code and saves the model (build.py); `train`, a fresh process, loads
that file and trains it on the track's schedule (train.py).
"""

import sys

STEPS = ("build", "train")

if len(sys.argv) != 4 or sys.argv[1] not in STEPS:
    sys.exit(f"usage: python -m pipeline.sandbox.trainer {{{'|'.join(STEPS)}}} <submission_dir> <workdir>")
if sys.argv[1] == "build":
    from pipeline.sandbox.trainer.build import main
else:
    from pipeline.sandbox.trainer.train import main
sys.exit(main(sys.argv[2:]))
