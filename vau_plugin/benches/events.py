"""The event simulators of the mini and motion benches: one fixed-camera clip with one event in a known frame range.

`render_clip(kind, clip_seed, spec)` draws a scene from `vau_plugin.benches.scene`, one or two pedestrians who
only walk past, and one event of `EVENT_KINDS` (an object falling off a ledge, two cars colliding, a person
falling, a bag snatch and run, a fight, a fire, or regular motion only), then mild per-frame sensor noise. Each
simulator computes its motion first and then draws it, so the event's span is exactly the frames where its motion
happens: from the last still frame before it to the frame where it has settled (for a fire, which keeps burning,
the last frame of the clip). It also writes what the annotation says about the event (`Event`).

Everything random comes from the clip seed (one `numpy.random.Generator`), so the same (kind, clip_seed, spec)
always gives the same frames and texts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from vau_plugin.benches.scene import (
    BAG,
    CAR_COLOURS,
    CLOTHES,
    OBJECT_COLOURS,
    SCENES,
    SKIN,
    ClipSpec,
    Scene,
    car_size,
    draw_car,
    draw_flames,
    draw_flash,
    draw_person,
    fill,
    person_size,
)
from vau_plugin.benches.text import background_sentence, direction_word
from vau_plugin.data.schema import CLASSES, NORMAL_CLASS

NORMAL_KIND = "normal"
# Walking speed of pedestrians, in frame widths per second (the same in normal and anomalous clips).
WALK_SPEED = (0.035, 0.07)


@dataclass
class Walker:
    """A pedestrian walking at constant speed: x(t) = x0 + v·t (pixels), feet on row `feet`."""

    colour_name: str
    x0: float
    v: float
    feet: float

    def x(self, t: int) -> float:
        return self.x0 + self.v * t


@dataclass
class Clip:
    """A clip being drawn: its spec, scene, frames (T, H, W, 3) uint8, RNG, the people's colours left and the
    pedestrians that only walk past (described together in the Description)."""

    spec: ClipSpec
    scene: Scene
    frames: np.ndarray
    rng: np.random.Generator
    free_colours: list[str]
    walkers: list[Walker] = field(default_factory=list)

    def take_colour(self) -> str:
        """A clothing colour no other person in this clip wears."""
        return self.free_colours.pop()

    def direction_word(self, sign: float) -> str:
        """`direction_word(sign)`: "from left to right" for a positive horizontal speed, else "from right to left"."""
        return direction_word(sign)

    def t(self, frame: int) -> str:
        """`frame` as a time for the texts, e.g. '2.3 s'."""
        return f"{self.spec.seconds_at(frame):.1f} s"


@dataclass(frozen=True)
class Event:
    """What an event render function drew, and what the annotation says about it.

    `span_frames` is (last still frame before the event, frame where it has settled); None for a normal clip.
    `evidence` holds (title, text) pairs for the Reasoning's Key Evidence section."""

    kind: str
    anomaly_class: str
    span_frames: Optional[tuple[int, int]]
    key_object: str
    narrative: str
    evidence: tuple[tuple[str, str], ...]
    explanation: str
    cause: str
    effect: str


def _choose_start(clip: Clip, kind: str, duration: int) -> int:
    """A start frame leaving at least ~15% of the clip still before the event and a few frames after it."""
    total = clip.spec.n_frames
    lead = max(3, int(round(0.15 * total)))
    tail = max(2, clip.spec.frames(0.3))
    latest = total - 1 - duration - tail
    if latest < lead:
        raise ValueError(
            f"mini bench: clip of {total} frames is too short for event '{kind}' ({duration} frames plus margins); "
            f"use more seconds or fps"
        )
    return int(clip.rng.integers(lead, latest + 1))


def _walker(clip: Clip, speed_range: tuple[float, float] = WALK_SPEED) -> Walker:
    """A pedestrian whose whole walk stays inside the frame when the frame is wide enough."""
    spec, rng = clip.spec, clip.rng
    v = spec.speed(rng.uniform(*speed_range)) * rng.choice((-1, 1))
    travel = abs(v) * (spec.n_frames - 1)
    margin = person_size(spec)[0]
    lo, hi = margin, spec.width - margin - travel
    start = rng.uniform(lo, hi) if hi > lo else rng.uniform(0, spec.width)
    x0 = start if v > 0 else spec.width - start
    feet = rng.integers(clip.scene.walk_rows[0], clip.scene.walk_rows[1] + 1)
    return Walker(clip.take_colour(), float(x0), float(v), float(feet))


def _add_walkers(clip: Clip, walkers: list[Walker]) -> None:
    """Draw pedestrians who walk past at constant speed and record them for the Description."""
    size = person_size(clip.spec)
    for w in sorted(walkers, key=lambda w: w.feet):
        for t in range(clip.spec.n_frames):
            draw_person(clip.frames[t], w.x(t), w.feet, CLOTHES[w.colour_name], size)
    clip.walkers.extend(walkers)


# --------------------------------------------------------------------------------------------- events


def _normal(clip: Clip) -> Event:
    """Regular motion only: one more pedestrian and, on a street, usually a car driving past."""
    rng, spec = clip.rng, clip.spec
    _add_walkers(clip, [_walker(clip)])
    key = "pedestrians walking at a steady pace"
    narrative = ""
    if clip.scene.lanes and rng.random() < 0.7:
        name = str(rng.choice(sorted(CAR_COLOURS)))
        facing = int(rng.choice((-1, 1)))
        size = car_size(spec)
        v = spec.speed(rng.uniform(0.15, 0.3)) * facing
        lane = clip.scene.lanes[0 if facing > 0 else 1]
        x0 = rng.uniform(-size[0], spec.width * 0.6) if facing > 0 else rng.uniform(spec.width * 0.4, spec.width)
        for t in range(spec.n_frames):
            draw_car(clip.frames[t], x0 + v * t, lane, CAR_COLOURS[name], size, facing)
        narrative = f"A {name} car drives along the road {clip.direction_word(facing)} at a normal speed."
        key = "pedestrians and a passing car"
    return Event(
        kind=NORMAL_KIND,
        anomaly_class=NORMAL_CLASS,
        span_frames=None,
        key_object=key,
        narrative=narrative,
        evidence=(
            ("Regular Movement", "All people walk at a steady pace in a straight line; vehicles keep to their lane."),
            ("No Incident", "Nothing falls, nobody falls or runs, there is no collision, no fight and no fire."),
        ),
        explanation=(
            "Every moving object keeps a constant speed and direction for the whole video, which is the ordinary "
            f"flow of {clip.scene.ground}; the background stays unchanged."
        ),
        cause="People and vehicles go about their usual business.",
        effect="The scene stays calm and unchanged; no one is harmed and nothing is damaged.",
    )


def _object_falling(clip: Clip) -> Event:
    """An object resting at the end of a ledge slides off, falls with gravity and breaks on the ground, its
    pieces scattering sideways until they stop."""
    spec, rng, scene = clip.spec, clip.rng, clip.scene
    name = str(rng.choice(sorted(OBJECT_COLOURS)))
    size = max(4.0, round(spec.px(0.12)))
    x0, x1, top = scene.ledge
    side = int(rng.choice(scene.ledge_sides))
    gravity = spec.px(2.4) / spec.fps**2  # px / frame²
    slide = spec.speed(0.08) * side
    # Simulate first (a list of pieces per frame), then choose when it starts so that it fits the clip.
    edge = x1 if side > 0 else x0
    x, y, vy = edge - size / 2 - side * 1.5, float(top), 0.0
    rest = [(x, y, size)]
    track: list[list[tuple[float, float, float]]] = []
    while y < scene.drop_row:
        if side * (x + size / 2 - edge) < 0:  # still on the ledge: slide towards its end
            x += slide
        else:
            x += slide * 0.5
            vy += gravity
            y = min(float(scene.drop_row), y + vy)
        track.append([(x, y, size)])
    landed = len(track)
    piece = size / 2
    spread = spec.speed(rng.uniform(0.12, 0.2))
    offsets = [0.0] * 4
    pushes = (-1.5, -0.5, 0.5, 1.5)
    for k in range(1, 40):
        step = [spread * p * 0.6**k for p in pushes]
        if max(abs(v) for v in step) < 0.8:  # sub-pixel creep is invisible
            break
        offsets = [o + v for o, v in zip(offsets, step, strict=True)]
        track.append([(x + size / 4 + o - piece / 2, y, piece) for o in offsets])
    start = _choose_start(clip, "object_falling", len(track))
    for t in range(spec.n_frames):
        k = t - start - 1
        for px_, py_, s_ in rest if k < 0 else track[min(k, len(track) - 1)]:
            fill(clip.frames[t], px_, py_ - s_, px_ + s_, py_, OBJECT_COLOURS[name])
    end = start + len(track)
    land = start + landed
    return Event(
        kind="object_falling",
        anomaly_class="Object_falling",
        span_frames=(start, end),
        key_object=f"{name} on the {scene.ledge_name}",
        narrative=(
            f"A {name} rests at the edge of the {scene.ledge_name}. At {clip.t(start)} it slides over the edge "
            f"and falls straight down, hits the ground at {clip.t(land)} and breaks apart; the pieces scatter and "
            f"come to rest by {clip.t(end)}."
        ),
        evidence=(
            ("Falling Object", f"The {name} leaves the {scene.ledge_name} and drops to the ground with increasing speed."),
            ("Impact", f"It hits the ground at {clip.t(land)} and breaks into pieces that slide apart."),
            ("Timing", f"The fall lasts from {clip.t(start)} to {clip.t(end)}."),
        ),
        explanation=(
            f"Objects on a {scene.ledge_name} are expected to stay in place. Here the {name} slides over the edge and "
            "falls freely; an object dropping from height is a hazard to anyone walking below."
        ),
        cause=f"The {name} was placed too close to the edge of the {scene.ledge_name} and slid off.",
        effect=f"It falls onto {scene.ground} and shatters, leaving debris that could injure a passer-by.",
    )


def _car_crash(clip: Clip) -> Event:
    """Two cars enter the same lane from opposite sides, drive head-on, collide (flash), recoil and stop."""
    spec, rng, scene = clip.spec, clip.rng, clip.scene
    size = car_size(spec)
    names = [str(n) for n in rng.choice(sorted(CAR_COLOURS), size=2, replace=False)]
    lane = scene.lanes[int(rng.integers(len(scene.lanes)))]
    va, vb = spec.speed(rng.uniform(0.3, 0.45)), spec.speed(rng.uniform(0.3, 0.45))
    xa, xb = [va - size[0]], [spec.width - vb]  # already nosing into view on the first frame
    while xa[-1] + size[0] < xb[-1]:
        xa.append(xa[-1] + va)
        xb.append(xb[-1] - vb)
    overlap = (xa[-1] + size[0] - xb[-1]) / 2
    xa[-1], xb[-1] = xa[-1] - overlap + 1, xb[-1] + overlap - 1  # crumpled into each other by 2 px
    recoil = max(1.0, spec.px(0.03))
    xa += [xa[-1] - recoil * 0.6, xa[-1] - recoil]
    xb += [xb[-1] + recoil * 0.6, xb[-1] + recoil]
    impact_k = len(xa) - 3
    flash_len = max(2, spec.frames(0.3))
    duration = max(len(xa), impact_k + flash_len + 1)
    start = _choose_start(clip, "car_crash", duration)
    contact_x = (xa[impact_k] + size[0] + xb[impact_k]) / 2
    for t in range(start + 1, spec.n_frames):
        k = min(t - start - 1, len(xa) - 1)
        draw_car(clip.frames[t], xa[k], lane, CAR_COLOURS[names[0]], size, +1)
        draw_car(clip.frames[t], xb[k], lane, CAR_COLOURS[names[1]], size, -1)
        since = t - start - 1 - impact_k
        if 0 <= since < flash_len:
            draw_flash(clip.frames[t], contact_x, lane, spec.px(0.25), 0.9 * (1 - since / flash_len))
    end = start + duration
    impact = start + 1 + impact_k
    return Event(
        kind="car_crash",
        anomaly_class="Traffic_accident",
        span_frames=(start, end),
        key_object=f"{names[0]} car and {names[1]} car",
        narrative=(
            f"At {clip.t(start)} a {names[0]} car enters from the left and a {names[1]} car from the right in the same "
            f"lane, driving fast towards each other. They collide head-on at {clip.t(impact)} with a bright flash, "
            f"bounce back slightly and come to a stop by {clip.t(end)}, blocking the lane."
        ),
        evidence=(
            ("Head-on Approach", f"The {names[0]} car and the {names[1]} car drive in the same lane in opposite directions."),
            ("Collision", f"The cars meet at {clip.t(impact)}; a flash and crumpled fronts mark the impact."),
            ("Aftermath", "Both cars stop where they collided and do not move again."),
        ),
        explanation=(
            "Cars in opposite directions are expected to keep to separate lanes. These two share one lane at speed, "
            "so they cannot avoid each other and crash, which is a traffic accident."
        ),
        cause="One of the cars drives in the wrong lane at high speed.",
        effect="The head-on collision damages both cars, endangers the drivers and blocks the road.",
    )


def _person_falling(clip: Clip) -> Event:
    """A walking person stops and topples over their feet in the walking direction, then lies still."""
    spec, rng = clip.spec, clip.rng
    fall = max(3, spec.frames(0.4))
    start = _choose_start(clip, "person_falling", fall)
    person = _walker(clip)
    direction = 1 if person.v > 0 else -1
    # Place the fall inside the middle of the frame, walking before it at the same speed.
    stop_x = rng.uniform(0.3, 0.7) * spec.width
    person = Walker(person.colour_name, stop_x - person.v * start, person.v, person.feet)
    size = person_size(spec)
    for t in range(spec.n_frames):
        k = t - start
        angle = 0.0 if k <= 0 else (math.pi / 2) * min(1.0, (k / fall) ** 2)
        draw_person(clip.frames[t], person.x(min(t, start)), person.feet, CLOTHES[person.colour_name], size, angle, direction)
    end = start + fall
    return Event(
        kind="person_falling",
        anomaly_class="People_falling",
        span_frames=(start, end),
        key_object=f"person in a {person.colour_name} shirt",
        narrative=(
            f"A person in a {person.colour_name} shirt walks {clip.direction_word(direction)} along {clip.scene.ground}. "
            f"At {clip.t(start)} the person suddenly stops, topples forward and by {clip.t(end)} lies flat on the "
            "ground, where they stay without moving."
        ),
        evidence=(
            ("Sudden Fall", f"The person in the {person.colour_name} shirt tips over from upright to horizontal in less than half a second."),
            ("No Recovery", "After the fall the person lies on the ground and does not get up."),
        ),
        explanation=(
            "A walking person is expected to stay upright. Here the body turns from vertical to horizontal in a "
            "fraction of a second and then stays motionless, which is a person falling, possibly injured."
        ),
        cause="The person trips or loses balance while walking.",
        effect="The person lies on the ground and may be hurt and need help.",
    )


def _snatch_run(clip: Clip) -> Event:
    """A person walking behind another suddenly sprints, grabs their bag and runs out of the frame."""
    spec, rng = clip.spec, clip.rng
    size = person_size(spec)
    direction = int(rng.choice((-1, 1)))
    walk = spec.speed(rng.uniform(*WALK_SPEED))
    run = spec.speed(rng.uniform(0.35, 0.5))
    gap = rng.uniform(0.18, 0.28) * spec.width
    feet = float(rng.integers(clip.scene.walk_rows[0], clip.scene.walk_rows[1] + 1))
    victim_at_start = spec.width / 2 - direction * rng.uniform(0.05, 0.15) * spec.width
    # Relative positions from the sprint on (k frames after the start).
    robber_k, victim_k = [victim_at_start - direction * gap], [victim_at_start]
    grab_k = None
    while -size[0] < robber_k[-1] < spec.width + size[0]:  # until the runner is out of view
        robber_k.append(robber_k[-1] + direction * run)
        victim_k.append(victim_k[-1] + (direction * walk if grab_k is None else 0.0))
        if grab_k is None and direction * (robber_k[-1] - victim_k[-1]) >= -size[0]:
            grab_k = len(robber_k) - 1
    if grab_k is None:
        raise ValueError("mini bench: snatch_run geometry failed (runner never reached the victim)")
    start = _choose_start(clip, "snatch_run", len(robber_k) - 1)
    victim_colour, robber_colour = clip.take_colour(), clip.take_colour()
    bag = max(2.0, spec.px(0.04))
    for t in range(spec.n_frames):
        k = t - start
        if k <= 0:
            rx, vx = robber_k[0] + direction * walk * k, victim_k[0] + direction * walk * k
        else:
            kk = min(k, len(robber_k) - 1)
            rx, vx = robber_k[kk], victim_k[kk]
        holder = vx if k < grab_k else rx
        draw_person(clip.frames[t], vx, feet, CLOTHES[victim_colour], size)
        draw_person(clip.frames[t], rx, feet, CLOTHES[robber_colour], size)
        bag_x = holder + direction * (size[0] / 2 + 0.5)
        fill(clip.frames[t], bag_x - bag / 2, feet - size[1] * 0.55, bag_x + bag / 2, feet - size[1] * 0.55 + bag, BAG)
    end = start + len(robber_k) - 1
    grab = start + grab_k
    return Event(
        kind="snatch_run",
        anomaly_class="Robbery",
        span_frames=(start, end),
        key_object=f"person in a {robber_colour} shirt and the bag of the person in a {victim_colour} shirt",
        narrative=(
            f"A person in a {victim_colour} shirt carrying a brown bag walks {clip.direction_word(direction)} along "
            f"{clip.scene.ground}, followed by a person in a {robber_colour} shirt. At {clip.t(start)} the person in "
            f"the {robber_colour} shirt suddenly sprints forward, grabs the bag at {clip.t(grab)} and runs out of view "
            f"by {clip.t(end)}; the person in the {victim_colour} shirt stops."
        ),
        evidence=(
            ("Sudden Sprint", f"The person in the {robber_colour} shirt accelerates from walking to running speed."),
            ("Bag Taken", f"At {clip.t(grab)} the brown bag moves from the person in the {victim_colour} shirt to the runner."),
            ("Escape", "The runner leaves the scene at high speed while the victim stops."),
        ),
        explanation=(
            "Pedestrians normally keep a steady walking pace. A person who suddenly runs up to another, takes their "
            "bag and flees is committing a snatch theft by force, a robbery."
        ),
        cause=f"The person in the {robber_colour} shirt intends to steal the bag.",
        effect=f"The person in the {victim_colour} shirt loses the bag and the thief escapes.",
    )


def _fight(clip: Clip) -> Event:
    """One person walks up to another; they scuffle (rapid jerky moves, swinging arms), then stand apart."""
    spec, rng = clip.spec, clip.rng
    size = person_size(spec)
    scuffle = spec.frames(rng.uniform(1.5, 2.2))
    start = _choose_start(clip, "fight", scuffle + 1)
    feet = float(rng.integers(clip.scene.walk_rows[0], clip.scene.walk_rows[1] + 1))
    centre = rng.uniform(0.3, 0.7) * spec.width
    side = int(rng.choice((-1, 1)))
    a_x = centre - side * size[0] * 0.8
    b_stop = centre + side * size[0] * 0.8
    walk = spec.speed(rng.uniform(*WALK_SPEED))
    colours = (clip.take_colour(), clip.take_colour())
    shake = max(2.0, spec.px(0.035))
    jolts = rng.uniform(-1, 1, size=(scuffle, 2, 2)) * [shake, shake * 0.5]
    jolts[np.abs(jolts[..., 0]) < 1.0, 0] = shake  # every frame visibly moves
    for t in range(spec.n_frames):
        k = t - start
        if k <= 0:  # B walks towards A, arriving at the start
            pos = [(a_x, feet), (b_stop + side * walk * (-k), feet)]
        elif k <= scuffle:
            j = jolts[k - 1]
            pos = [(a_x + j[0, 0], feet + j[0, 1]), (b_stop + j[1, 0], feet + j[1, 1])]
        else:
            pos = [(a_x - side * shake, feet), (b_stop + side * shake, feet)]
        for (x, y), name in zip(pos, colours, strict=True):
            draw_person(clip.frames[t], x, y, CLOTHES[name], size)
        if 0 < k <= scuffle:  # a swinging arm from alternating fighters
            who = k % 2
            x, y = pos[who]
            towards = side if who == 0 else -side
            reach = size[0] * (1.2 + 0.8 * (k % 3 == 0))
            arm_y = y - size[1] * (0.7 if k % 3 else 0.5)
            x0, x1 = sorted((x, x + towards * reach))
            fill(clip.frames[t], x0, arm_y, x1, arm_y + max(1, size[1] * 0.1), SKIN)
    end = start + scuffle + 1
    return Event(
        kind="fight",
        anomaly_class="Fighting",
        span_frames=(start, end),
        key_object=f"person in a {colours[0]} shirt and person in a {colours[1]} shirt",
        narrative=(
            f"A person in a {colours[1]} shirt walks up to a person in a {colours[0]} shirt who is standing on "
            f"{clip.scene.ground}. At {clip.t(start)} the two start fighting, jerking back and forth and swinging "
            f"their arms at each other, until they separate and stand apart at {clip.t(end)}."
        ),
        evidence=(
            ("Physical Altercation", "The two people move abruptly against each other and swing their arms."),
            ("Duration", f"The scuffle lasts from {clip.t(start)} to {clip.t(end)}."),
            ("Separation", "Afterwards the two stand apart facing each other."),
        ),
        explanation=(
            "People who meet normally stand or walk calmly. Rapid, jerky movements of two people in contact with "
            "swinging arms are the signs of a physical fight."
        ),
        cause="A confrontation between the two people escalates.",
        effect="The two exchange blows and may be injured before they separate.",
    )


def _fire(clip: Clip) -> Event:
    """A fire starts at a fixed spot, grows over a few seconds and keeps burning to the end of the clip."""
    spec = clip.spec
    grow = spec.frames(2.0)
    start = _choose_start(clip, "fire", grow)
    x, base = clip.scene.fire_base
    full = max(3.0, spec.px(0.16))
    for t in range(start + 1, spec.n_frames):
        radius = max(1.5, full * min(1.0, (t - start) / grow))
        draw_flames(clip.frames[t], x, base, radius, clip.rng)
    end = spec.n_frames - 1
    place = clip.scene.fire_place
    return Event(
        kind="fire",
        anomaly_class="Fire",
        span_frames=(start, end),
        key_object=f"flames at {place}",
        narrative=(
            f"At {clip.t(start)} flames appear at {place}. The fire grows quickly over the next "
            f"{grow / spec.fps:.1f} seconds, flickering orange and red with a glow around it, and is still burning "
            f"at the end of the video ({clip.t(end)})."
        ),
        evidence=(
            ("Flames", f"Flickering yellow, orange and red shapes rise from {place}."),
            ("Growth", f"The burning area grows from {clip.t(start)} on and lights up its surroundings."),
        ),
        explanation=(
            f"Nothing in the scene should burn. Flames that appear at {place} and keep growing are an uncontrolled "
            "fire that can spread and harm people nearby."
        ),
        cause=f"Something at {place} catches fire.",
        effect="The fire grows, produces heat and light and endangers the surroundings.",
    )


@dataclass(frozen=True)
class EventKind:
    """One kind of clip: its VAU-Bench class, the answer phrase used as a QA option, the scenes it fits and
    the function that draws it into a `Clip` and describes it."""

    anomaly_class: str
    option: str
    scenes: tuple[str, ...]
    render: Callable[[Clip], Event]


EVENT_KINDS: dict[str, EventKind] = {
    NORMAL_KIND: EventKind(NORMAL_CLASS, "People walk through the scene at a steady pace with no sign of anomaly", ("street", "warehouse"), _normal),
    "object_falling": EventKind("Object_falling", "An object falls from a ledge and hits the ground", ("street", "warehouse"), _object_falling),
    "car_crash": EventKind("Traffic_accident", "Two cars drive towards each other and collide", ("street",), _car_crash),
    "person_falling": EventKind("People_falling", "A walking person suddenly falls to the ground", ("street", "warehouse"), _person_falling),
    "snatch_run": EventKind("Robbery", "A person snatches another person's bag and runs away", ("street", "warehouse"), _snatch_run),
    "fight": EventKind("Fighting", "Two people get into a physical fight", ("street", "warehouse"), _fight),
    "fire": EventKind("Fire", "A fire breaks out and grows", ("street", "warehouse"), _fire),
}
assert all(k.anomaly_class in CLASSES for k in EVENT_KINDS.values())


# --------------------------------------------------------------------------------------------- one clip


@dataclass(frozen=True)
class RenderedClip:
    """A rendered clip: frames (T, H, W, 3) uint8, its scene and the event drawn into it."""

    frames: np.ndarray
    scene: Scene
    event: Event
    background: str  # the sentence about the regular motion, for the Description


def render_clip(kind: str, clip_seed: int, spec: ClipSpec = ClipSpec()) -> RenderedClip:
    """Draw one clip of `kind` (a key of EVENT_KINDS). Everything random comes from `clip_seed`, so the same
    (kind, clip_seed, spec) always gives the same frames."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"mini bench: unknown event kind {kind!r}; expected one of {sorted(EVENT_KINDS)}")
    spec.validate()
    rng = np.random.default_rng(clip_seed)
    kind_info = EVENT_KINDS[kind]
    scene = SCENES[str(rng.choice(kind_info.scenes))](spec, rng)
    colours = sorted(CLOTHES)
    rng.shuffle(colours)
    frames = np.repeat(scene.background[None], spec.n_frames, axis=0)
    clip = Clip(spec, scene, frames, rng, colours)
    _add_walkers(clip, [_walker(clip) for _ in range(int(rng.integers(1, 3)))])
    event = kind_info.render(clip)
    noise = rng.integers(-2, 3, size=frames.shape[:3] + (1,), dtype=np.int16)  # mild sensor noise (luma)
    frames = np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return RenderedClip(frames, scene, event, background_sentence(clip.walkers, scene.ground))
