"""Flask-SocketIO (Debian's python3-flask-socketio) on eventlet doing the benchmark's work, as the
second reference: "echo" acks its arguments, "join" joins a room (acked), "fanout" sends "tick"
to a room, and POST /emit?room=R sends "tick" with the JSON array in the body to room R (the S4
job's endpoint, as Flask-SocketIO's emit from an HTTP route).

    /usr/bin/python3 server.py PORT
"""
import eventlet

eventlet.monkey_patch()

import logging  # noqa: E402  (after monkey patching, as eventlet requires)
import sys  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet", cors_allowed_origins="*", logger=False,
                    engineio_logger=False)


@socketio.on("echo")
def echo(*args):
    return args


@socketio.on("join")
def join(room):
    join_room(room)


@socketio.on("fanout")
def fanout(room, *rest):
    # Several arguments go as a tuple: python-socketio's emit takes one data argument.
    socketio.emit("tick", tuple(rest), to=room)


@app.route("/emit", methods=["POST"])
def emit():
    socketio.emit("tick", tuple(request.get_json()), to=request.args["room"])
    return "ok"


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5200
    print(f"listening on {port}", flush=True)
    # eventlet.wsgi serves at most max_size connections at once (1024 by default); the idle
    # scenarios hold more.
    socketio.run(app, host="127.0.0.1", port=port, log_output=False, max_size=100000)
