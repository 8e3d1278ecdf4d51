"""collect: bring student hand-ins (git repositories, Moodle and Canvas exports) into submissions/<id>/.

One module per job: settings (the `course:` section of params.yaml), roster (roster.csv),
deadlines (late-policy arithmetic), git_intake and lms_intake (reading the sources), collect
(choosing what to write and writing it safely), lateness (reading the record back for grading)
and cli (the `collect` command).
"""
