"""Videos of a trained policy: one episode drawn frame by frame, written as GIF or MP4.

gymnax's classic-control envs have no renderer that works without a display, so the frames
are drawn here with NumPy from the env state (a small rasteriser: rectangles, thick line
segments, discs, polygons), for ``CartPole-v1``, ``Pendulum-v1``, ``Acrobot-v1``,
``MountainCar-v0``, ``MountainCarContinuous-v0``, ``CartPoleSwingUp-v0`` and the five MinAtar
games (drawn from their observation grids). Other envs (bsuite, misc, brax, Playground) have
no renderer here: :func:`require_renderer` says so before anything is run.

GIFs are written with Pillow (a dependency of matplotlib); MP4 needs ``imageio`` and
``imageio-ffmpeg`` (``pip install 'jaxrl[video]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 480, 320  # multiples of 16, as MP4 encoders want

MINATAR = ("Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar",
           "SpaceInvaders-MinAtar")  # fmt: skip


class Canvas:
    """An RGB image drawn in world coordinates: ``x`` in ``[x0, x1]`` across, ``y`` upwards
    from ``y0`` (the scale is the same on both axes)."""

    def __init__(self, x0: float, x1: float, y0: float, width: int = WIDTH,
                 height: int = HEIGHT, background=(255, 255, 255)):  # fmt: skip
        self.image = np.empty((height, width, 3), np.uint8)
        self.image[:] = background
        self.scale = width / (x1 - x0)
        self.x0, self.y0 = x0, y0
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
        self.x = x0 + cols / self.scale
        self.y = y0 + (height - rows) / self.scale

    def fill(self, mask: np.ndarray, color) -> None:
        self.image[mask] = color

    def rect(self, x0, y0, x1, y1, color) -> None:
        self.fill((self.x >= x0) & (self.x <= x1) & (self.y >= y0) & (self.y <= y1), color)

    def disc(self, cx, cy, r, color) -> None:
        self.fill((self.x - cx) ** 2 + (self.y - cy) ** 2 <= r * r, color)

    def segment(self, p, q, width, color) -> None:
        """A line from ``p`` to ``q`` of thickness ``width`` with round ends."""
        (px, py), (qx, qy) = p, q
        dx, dy = qx - px, qy - py
        length2 = dx * dx + dy * dy
        t = ((self.x - px) * dx + (self.y - py) * dy) / length2 if length2 > 0 else 0.0
        t = np.clip(t, 0.0, 1.0)
        d2 = (self.x - px - t * dx) ** 2 + (self.y - py - t * dy) ** 2
        self.fill(d2 <= (width / 2) ** 2, color)

    def polyline(self, xs, ys, width, color) -> None:
        for i in range(len(xs) - 1):
            self.segment((xs[i], ys[i]), (xs[i + 1], ys[i + 1]), width, color)

    def polygon(self, points, color) -> None:
        """A convex polygon (corners in order)."""
        pts = np.asarray(points, np.float64)
        inside = np.ones(self.x.shape, bool)
        sign = np.sign(_area(pts))
        for (ax, ay), (bx, by) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
            cross = (bx - ax) * (self.y - ay) - (by - ay) * (self.x - ax)
            inside &= sign * cross >= 0
        self.fill(inside, color)


def _area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _f(x) -> float:
    return float(np.asarray(x))


CART, POLE, AXLE, TRACK = (40, 40, 40), (204, 153, 102), (127, 127, 204), (0, 0, 0)


def _cartpole(x: float, theta: float, half_length: float, limit: float) -> np.ndarray:
    """A cart at ``x`` with a pole at ``theta`` (0 upright, clockwise positive as in gym)."""
    span = limit * 1.2
    c = Canvas(-span, span, -0.9 * span * HEIGHT / WIDTH)
    c.rect(-span, -0.01, span, 0.01, TRACK)
    for edge in (-limit, limit):
        c.rect(edge - 0.01, -0.15, edge + 0.01, 0.15, (200, 0, 0))
    c.rect(x - 0.25, -0.08, x + 0.25, 0.12, CART)
    tip = (x + 2 * half_length * np.sin(theta), 0.08 + 2 * half_length * np.cos(theta))
    c.segment((x, 0.08), tip, 0.1, POLE)
    c.disc(x, 0.08, 0.05, AXLE)
    return c.image


def render_cartpole(state, obs, params) -> np.ndarray:
    return _cartpole(_f(state.x), _f(state.theta), _f(params.length), _f(params.x_threshold))


def render_swingup(state, obs, params) -> np.ndarray:
    return _cartpole(_f(state.x), _f(state.theta), _f(params.length), _f(params.x_threshold))


def render_pendulum(state, obs, params) -> np.ndarray:
    c = Canvas(-2.2, 2.2, -2.2 * HEIGHT / WIDTH)
    theta = _f(state.theta)  # 0 upright, counter-clockwise positive
    tip = (-np.sin(theta), np.cos(theta))
    c.segment((0.0, 0.0), tip, 0.2, (204, 77, 77))
    c.disc(0.0, 0.0, 0.06, (0, 0, 0))
    return c.image


def render_acrobot(state, obs, params) -> np.ndarray:
    c = Canvas(-2.6, 2.6, -2.6 * HEIGHT / WIDTH)
    a1, a2 = _f(state.joint_angle1), _f(state.joint_angle2)
    l1, l2 = _f(params.link_length_1), _f(params.link_length_2)
    p1 = (l1 * np.sin(a1), -l1 * np.cos(a1))  # 0: hanging down
    p2 = (p1[0] + l2 * np.sin(a1 + a2), p1[1] - l2 * np.cos(a1 + a2))
    c.rect(-2.6, 0.99, 2.6, 1.01, TRACK)  # the tip must rise above this line
    c.segment((0.0, 0.0), p1, 0.18, (0, 204, 204))
    c.segment(p1, p2, 0.18, (0, 204, 204))
    for p in ((0.0, 0.0), p1):
        c.disc(p[0], p[1], 0.08, (204, 204, 0))
    return c.image


def render_mountain_car(state, obs, params) -> np.ndarray:
    lo, hi = _f(params.min_position), _f(params.max_position)
    c = Canvas(lo, hi, -0.1)
    xs = np.linspace(lo, hi, 100)
    ys = np.sin(3 * xs) * 0.45 + 0.55
    c.polyline(xs, ys, 0.012, TRACK)
    goal = _f(params.goal_position)
    gy = np.sin(3 * goal) * 0.45 + 0.55
    c.rect(goal - 0.004, gy, goal + 0.004, gy + 0.1, (0, 0, 0))
    c.polygon([(goal, gy + 0.1), (goal, gy + 0.06), (goal + 0.06, gy + 0.08)], (204, 204, 0))
    x = _f(state.position)
    y = np.sin(3 * x) * 0.45 + 0.55
    angle = np.arctan(np.cos(3 * x) * 0.45 * 3)
    ux, uy = np.cos(angle), np.sin(angle)  # along the track
    nx, ny = -uy, ux  # its normal
    w, h, lift = 0.08, 0.05, 0.012
    corners = [(x + sx * w * ux + (lift + sy * h) * nx, y + sx * w * uy + (lift + sy * h) * ny)
               for sx, sy in ((-1, 0), (1, 0), (1, 1), (-1, 1))]  # fmt: skip
    c.polygon(corners, CART)
    for sx in (-0.6, 0.6):
        c.disc(x + sx * w * ux + lift * nx, y + sx * w * uy + lift * ny, 0.015, (127, 127, 127))
    return c.image


_PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                     [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                     [210, 245, 60], [250, 190, 212]], np.uint8)  # fmt: skip


def render_minatar(state, obs, params) -> np.ndarray:
    """The observation grid ``[10, 10, channels]``: each cell in the colour of its last
    active channel (channels are the game's object kinds), black if none."""
    grid = np.asarray(obs, np.float64)
    rows, cols, channels = grid.shape
    cell = HEIGHT // rows
    image = np.zeros((rows, cols, 3), np.uint8)
    for ch in range(channels):
        image[grid[:, :, ch] > 0.5] = _PALETTE[ch % len(_PALETTE)]
    image = np.repeat(np.repeat(image, cell, axis=0), cell, axis=1)
    out = np.zeros((HEIGHT, cols * cell, 3), np.uint8)
    out[: rows * cell] = image
    return out


RENDERERS: dict[str, Callable] = {
    "CartPole-v1": render_cartpole,
    "Pendulum-v1": render_pendulum,
    "Acrobot-v1": render_acrobot,
    "MountainCar-v0": render_mountain_car,
    "MountainCarContinuous-v0": render_mountain_car,
    "CartPoleSwingUp-v0": render_swingup,
    **dict.fromkeys(MINATAR, render_minatar),
}


def require_renderer(env_name: str) -> Callable:
    """The frame renderer of ``env_name``; ``ValueError`` naming the envs that have one."""
    if env_name not in RENDERERS:
        raise ValueError(f"video: no renderer for {env_name}; videos are drawn for "
                         f"{', '.join(RENDERERS)}")  # fmt: skip
    return RENDERERS[env_name]


def play_episode(policy, key, *, greedy: bool = True, max_steps: int | None = None) -> dict:
    """One episode of a :class:`~jaxrl.policies.LoadedPolicy` in its env (no reset at the
    end): ``{"states": [...], "observations": [T + 1, ...], "rewards": [T], "length": T,
    "return": float, "finished": bool}``, the states those of the unwrapped env (the
    first one after the reset, then one after every step)."""
    import jax

    from jaxrl.run.evaluate import max_steps_of

    venv, env_params = policy.make_env(1)
    steps = max_steps or max_steps_of(env_params)
    act, observe = policy.learner.policy.act, policy.learner.policy.observe

    @jax.jit
    def run(params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, env_params)
        carry = policy.learner.policy.init_carry(1)

        def body(loop, k):
            obs, state, carry = loop
            k_act, k_step = jax.random.split(k)
            action, carry = act(params, obs, k_act, carry, state, greedy)
            obs, state, reward, terminated, truncated, _ = venv.transition(
                k_step, state, action, env_params
            )
            if observe is not None:
                carry = observe(carry, reward)
            return (obs, state, carry), (obs, state.env_state, reward, terminated | truncated)

        _, (obs_t, states_t, rewards, done) = jax.lax.scan(
            body, (obs, state, carry), jax.random.split(k_run, steps)
        )
        return obs, state.env_state, obs_t, states_t, rewards, done

    obs0, state0, obs_t, states_t, rewards, done = jax.device_get(run(policy.params, key))
    done = np.asarray(done)[:, 0]
    finished = bool(done.any())
    length = int(np.argmax(done)) + 1 if finished else steps
    first = jax.tree.map(lambda x: np.asarray(x)[0], state0)
    states = [first] + [jax.tree.map(lambda x, t=t: np.asarray(x)[t, 0], states_t)
                        for t in range(length)]  # fmt: skip
    shape = policy.obs_shape
    observations = np.concatenate([np.asarray(obs0)[:1], np.asarray(obs_t)[:length, 0]])
    rewards = np.asarray(rewards)[:length, 0]
    return {"states": states, "observations": observations.reshape((-1,) + shape),
            "rewards": rewards, "length": length, "return": float(rewards.sum()),
            "finished": finished}  # fmt: skip


def frames(policy, episode: dict) -> list[np.ndarray]:
    """The episode's frames (one per state: ``length + 1``)."""
    draw = require_renderer(policy.env_name)
    return [draw(s, o, policy.env_params)
            for s, o in zip(episode["states"], episode["observations"], strict=True)]  # fmt: skip


def write_video(images: list[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Writes frames ``[H, W, 3]`` uint8 as a GIF (Pillow) or an MP4 (imageio-ffmpeg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image

        pictures = [Image.fromarray(f) for f in images]
        pictures[0].save(path, save_all=True, append_images=pictures[1:],
                         duration=max(20, round(1000 / fps)), loop=0)  # fmt: skip
    elif suffix == ".mp4":
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise ValueError("video: MP4 needs imageio and imageio-ffmpeg (pip install "
                             "'jaxrl[video]'); a .gif needs nothing more") from None  # fmt: skip
        import warnings

        try:
            with warnings.catch_warnings():  # ffmpeg runs as a subprocess (fork then exec)
                warnings.filterwarnings("ignore", message=".*os.fork.*", category=RuntimeWarning)
                imageio.mimwrite(path, images, fps=fps, macro_block_size=16)
        except Exception as e:
            raise ValueError(f"video: cannot write {path} ({e}); is imageio-ffmpeg "
                             "installed?") from None  # fmt: skip
    else:
        raise ValueError(f"video: {path} must end in .gif or .mp4")
    return path


def record_video(policy, path: str | Path, *, seed: int = 0, fps: int = 30,
                 greedy: bool = True, max_steps: int | None = None) -> dict:  # fmt: skip
    """Plays one episode of ``policy`` (a :class:`~jaxrl.policies.LoadedPolicy`, e.g. from
    ``jaxrl.load(DIR)``) and writes it to ``path`` (.gif or .mp4).

    Returns:
      ``{"path", "frames" (episode length + 1), "length", "return", "finished"}``.
    """
    import jax

    require_renderer(policy.env_name)
    suffix = Path(path).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"video: {path} must end in .gif or .mp4")
    episode = play_episode(policy, jax.random.key(seed), greedy=greedy, max_steps=max_steps)
    images = frames(policy, episode)
    write_video(images, path, fps)
    return {"path": str(path), "frames": len(images), "length": episode["length"],
            "return": episode["return"], "finished": episode["finished"]}  # fmt: skip
