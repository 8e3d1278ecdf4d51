"""Inside the sandbox: `python -m pipeline.sandbox.trainer <submission_dir> <workdir>`."""

import sys

from pipeline.sandbox.trainer.train import main

sys.exit(main(sys.argv[1:]))
