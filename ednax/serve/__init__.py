"""`ednax serve RUN`: one finished run behind HTTP (FastAPI on uvicorn).

    served.py    the run, loaded and checked once (LoadedRun), predicting from many threads
    batching.py  the rows of requests queued for the model, predicted in one call
    payloads.py  request bodies (JSON shapes, CSV, image files) to rows or images
    limits.py    the request body limit (413)
    app.py       the endpoints, their response shapes and the error responses
    server.py    uvicorn: the port bound after the run loaded, workers, graceful SIGTERM

Nothing here is imported when the CLI starts; `ednax serve` imports it when it runs.
"""
