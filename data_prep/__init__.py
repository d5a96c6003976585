"""Command-line converters from the public depth dataset formats to the course's depth pack.

`python -m data_prep --help` lists them: nyu-labeled, densedepth-zip, eigen-npy, folder, synthetic,
inspect. Each is also a function (e.g. `data_prep.nyu_labeled.convert_nyu_labeled`) for use from Python.
"""
