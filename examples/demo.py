"""``make demo``: the whole product in one command, on scikit-learn's digits.

1. Builds the example model and evaluation set when missing (examples/digits.py).
2. Starts ``robustedge-server`` on a free loopback port with an embedded data dir.
3. Evaluates the model through the client SDK with the ``quick`` preset (a progress
   bar while it runs), prints a summary and writes the report as JSON, HTML,
   Markdown and JUnit.
4. Stops the server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import digits  # noqa: E402


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "port"
    port_file.unlink(missing_ok=True)
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [sys.executable, "-m", "robustedge.service", "--listen", "127.0.0.1:0",
         "--data-dir", str(data_dir), "--port-file", str(port_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the server did not start; see {data_dir / 'server.log'}")
        time.sleep(0.1)
    return process, f"127.0.0.1:{port_file.read_text()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".robustedge-demo"))
    parser.add_argument("--out", type=Path, default=Path("demo-report"))
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()

    example_dir = HERE / "data"
    model, dataset = example_dir / digits.MODEL_NAME, example_dir / digits.DATASET_NAME
    if not (model.exists() and dataset.exists()):
        print("building the example digits model (about 5 s)...")
        built = digits.build(example_dir)
        print(f"  torch accuracy on the evaluation set: {built.test_accuracy:.3f}")

    from robustedge.client import Client, render

    process, address = start_server(args.data_dir)
    print(f"robustedge-server listening on {address} (data dir {args.data_dir})")
    try:
        with Client(address) as client:
            started = time.perf_counter()
            response = client.evaluate(
                model, dataset, preset=args.preset, progress=sys.stderr.isatty(), html=True
            )
            seconds = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    report = response.report
    print()
    print("\n".join(render.summary_lines(report)))
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "report.json": render.to_json(report).encode(),
        "report.md": render.to_markdown(report).encode(),
        "report.junit.xml": render.to_junit(report).encode(),
        "report.html": response.documents[0].content,
    }
    for name, content in outputs.items():
        (args.out / name).write_bytes(content)
    print()
    print(f"evaluation took {seconds:.1f} s; reports written to {args.out}/ ({', '.join(outputs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
