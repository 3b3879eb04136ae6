"""ONNX: the exportable graph (graph.py), the export and its checks (export.py), ONNX Runtime serving (runtime.py)."""
