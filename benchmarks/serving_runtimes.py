"""The trees of models/model.joblib in other runtimes, one thread: what the compiled form was
chosen against. Not a project dependency: install the runtimes into a scratch environment,

    uv pip install treelite onnxruntime skl2onnx && python benchmarks/serving_runtimes.py

Each runtime gets the classifier's own inputs (the Pipeline's preprocessing already done,
as a float64 or float32 array) and is timed per call, for 1 and 500 rows; equality with
scikit-learn's probabilities is printed beside. The preprocessing has no ONNX or treelite
form here: skl2onnx would need converters for the project's own steps (sentinels, column
order), treelite covers trees only.
"""

from __future__ import annotations

import time

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from underwrite.schema import feature_columns, names
from underwrite.serving.compiled import compile_pipeline
from underwrite.serving.equality import readiness_frame


def timed(call, repeat: int) -> float:
    call()
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat * 1000


def treelite_gtil(trees):
    import treelite

    forest = treelite.sklearn.import_model(trees)
    return lambda X: treelite.gtil.predict(forest, X).ravel()


def onnx_runtime(trees, inputs: np.ndarray):
    import onnxruntime
    from skl2onnx import to_onnx

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    onnx = to_onnx(trees, inputs[:1].astype(np.float32), options={"zipmap": False})
    session = onnxruntime.InferenceSession(onnx.SerializeToString(), options)
    name = session.get_inputs()[0].name
    return lambda X: session.run(None, {name: X.astype(np.float32)})[1][:, 1]


def runtimes(trees, inputs: np.ndarray, compiled) -> dict:
    """Each runtime's predict, or why it could not be built."""
    built = {
        "scikit-learn HGB predict_proba (array)": lambda: lambda X: trees.predict_proba(X)[:, 1],
        "compiled (this project, NumPy)": lambda: compiled.forest.predict_proba,
        "treelite 4 GTIL": lambda: treelite_gtil(trees),
        "ONNX Runtime (skl2onnx, float32)": lambda: onnx_runtime(trees, inputs),
    }
    out = {}
    for label, build in built.items():
        try:
            out[label] = build()
        except Exception as err:  # a runtime that cannot take this model is a result too
            out[label] = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return out


def main() -> None:
    threadpool_limits(1)
    pipeline = joblib.load("models/model.joblib")
    columns = names(feature_columns(False))
    compiled = compile_pipeline(pipeline, columns, "")
    X = readiness_frame(False)[columns].to_numpy()[:500]
    inputs = compiled.model_inputs(X)
    trees = pipeline[-1]
    expected = trees.predict_proba(inputs)[:, 1]
    print("| runtime | 1 row ms | 500 rows ms | max abs delta p |\n| --- | --- | --- | --- |")
    for label, predict in runtimes(trees, inputs, compiled).items():
        if isinstance(predict, str):
            print(f"| {label} | failed: {predict} | | |")
            continue
        delta = float(np.max(np.abs(np.asarray(predict(inputs), dtype=float) - expected)))
        one = timed(lambda p=predict: p(inputs[:1]), 300)
        many = timed(lambda p=predict: p(inputs), 30)
        print(f"| {label} | {one:.3f} | {many:.2f} | {delta:.1e} |")


if __name__ == "__main__":
    main()
