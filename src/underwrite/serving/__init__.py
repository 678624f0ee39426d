"""Serving: the trained Pipeline behind an HTTP API with BentoML.

- ``service``     the BentoML service (``bentoml serve underwrite.serving.service:LoanApproval``)
- ``config``      UNDERWRITE_* settings, read only when asked (no side effects on import)
- ``contract``    the request and response models, derived from the schema; golden applications
- ``store``       the model in the BentoML store, labelled with its origin (dvc.lock, git)
- ``compiled``    the fitted Pipeline as NumPy array operations (``trees``: the trees, TreeSHAP)
- ``equality``    the compiled form checked equal to the Pipeline (import, readiness)
- ``reasons``     the principal reasons of a denial, from TreeSHAP and the schema
- ``batching``    adaptive batching of concurrent requests into one model call
- ``log_writer``  the inference log writer (local folder or azure://), off the request path
- ``middleware``  ASGI: body size limit, request timeout, the request parser, slow headers
- ``parser``      the one request parser for /predict and /predict_batch (limits, 4xx)
- ``openapi``     the OpenAPI 3.1 document: statuses, examples, security schemes
- ``auth``        Entra ID tokens, API keys, rate limit per caller; client credentials
- ``commands``    ``underwrite import-model`` and ``underwrite serve``

Importing this package loads none of them: the service module does work on import.
"""
