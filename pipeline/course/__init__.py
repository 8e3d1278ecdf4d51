"""collect: bring student hand-ins (git repositories, Moodle and Canvas exports) into submissions/<id>/.

One module per job: settings (the `course:` section of params.yaml), roster (roster.csv),
deadlines (late-policy arithmetic), handin_names (what file names in a hand-in mean), git_intake
and lms_intake (reading the sources, the latter within the archive limits), lms_times (the LMS's
own submission times), git_checks (histories to look at), collect_git and collect_lms (choosing
each student's hand-in), collect (the report and writing it safely) and cli (the `collect`
command). The record collect writes, submissions/<id>/submission.yaml, is read back for grading by
pipeline/handin_record.py, below both course and grading.
"""
