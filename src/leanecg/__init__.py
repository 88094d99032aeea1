"""LeanECG: efficient AI for ECG arrhythmia classification.

Fewer leads, smaller models, fewer labels -- with accuracy and cost measured together.

Load a shipped model and predict (the records are real example ECGs shipped with LeanECG)::

    from leanecg.data import load_record
    from leanecg.package import open_model
    from leanecg.quickstart import example_path

    # heartbeats N / S / V / F of a record (30 s of MIT-BIH record 233)
    beats_model = open_model("mitdb-aami")  # or a package folder, or an exported .onnx file
    record = load_record(example_path("mitdb/233"))  # WFDB, .mat + .hea, CSV (fs=...), EDF
    pred = beats_model.predict_beats(record)  # pred.samples, pred.labels, pred.probs

    # rhythm N / A / O / ~ of whole records (CinC 2017)
    rhythm_model = open_model("cinc2017")
    probs = rhythm_model.predict_records([load_record(example_path("cinc2017/A00405"))])
    print(rhythm_model.labels_of(probs), probs)

A numpy array becomes a record with ``leanecg.data.Record(name="x", signal=array_mV, fs=250.0,
leads=["II"])``; ``leanecg.signal.detect_rpeaks(x, fs)`` finds R peaks. More -- R peaks, predicting on
arrays, streaming, ONNX export -- with runnable snippets in ``docs/python-api.md``; the shipped models are
listed by ``leanecg.package.shipped.list_shipped()`` (``leanecg models``). Subpackages: ``data`` (records,
datasets), ``signal`` (preprocessing, R peaks, beats), ``features``, ``models``, ``train``, ``evaluate``,
``tasks`` (benchmark tasks), ``package`` (model packages, ``open_model``), ``deploy`` (ONNX export,
streaming, serving), ``bench``, ``compress``, ``ssl``, ``explain``.
"""

__version__ = "0.1.0"
