//! Guards the true shortest-path distances used to judge planning costs: straight in an open
//! arena, through the door in two_rooms, infinite inside a wall, pose error for push.

mod common;

use std::sync::Arc;

use common::load;
use sim::{World, wrap_angle};

fn straight(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

#[test]
fn open_arena_distances_are_nearly_straight() {
    let world = World::from_seed(load("reach"), 0).expect("world");
    let goal = [0.6, -0.5];
    let field = world.distance_field(goal, 0.02);
    for p in [[-0.7, 0.6], [0.5, 0.7], [-0.8, -0.8], [0.6, -0.2]] {
        let d = field.distance(p);
        let s = straight(p, goal);
        // An 8-connected grid overestimates by at most ~8%, plus a cell of rounding.
        assert!(
            d >= s - 0.03 && d <= 1.09 * s + 0.05,
            "{p:?}: {d} vs straight {s}"
        );
    }
}

#[test]
fn two_rooms_distances_go_through_the_door() {
    let spec = load("two_rooms");
    for seed in 0..5 {
        let world = World::from_seed(Arc::clone(&spec), seed).expect("world");
        let centre = world.episode().door_centres[4].expect("the divider has a door");
        // The divider runs from (0, -1) to (0, 1); its door is kept inside the wall.
        let door_y = (-1.0 + 2.0 * centre).clamp(-1.0 + 0.16, 1.0 - 0.16);
        // Start and goal face each other across the wall, far from the door.
        let far_y = if door_y > 0.0 { -0.8 } else { 0.8 };
        let (a, b) = ([-0.5, far_y], [0.5, far_y]);
        let field = world.distance_field(b, 0.02);
        let via_door = straight(a, [0.0, door_y]) + straight([0.0, door_y], b);
        let d = field.distance(a);
        assert!(d > straight(a, b) + 0.2, "seed {seed}: {d} is no detour");
        assert!(
            d > 0.93 * via_door && d < 1.12 * via_door,
            "seed {seed}: {d} vs via the door {via_door}"
        );
        assert!(
            field.distance([0.0, far_y]).is_infinite(),
            "inside the wall is unreachable"
        );
    }
}

#[test]
fn push_distance_is_the_object_pose_error() {
    let world = World::from_seed(load("push"), 3).expect("world");
    let goal = world.goal().object_pose.expect("push goal");
    let pose = world.object_pose().expect("object");
    // The T-block's footprint radius: its bar's corner, 0.1 m off centre plus hypot(0.2, 0.05).
    let radius = 0.1 + 0.2f32.hypot(0.05);
    let expected =
        straight(pose.position, goal.position) + radius * wrap_angle(pose.yaw - goal.yaw).abs();
    assert!(
        expected > straight(pose.position, goal.position) + 0.01,
        "the yaw counts"
    );
    assert!((world.distance_to_goal() - expected).abs() < 1e-5);
    let reach = World::from_seed(load("reach"), 2).expect("world");
    let p = reach.agent_position();
    let d = reach.distance_to_goal();
    let s = straight([p[0], p[1]], reach.goal().agent_position);
    assert!(d >= s - 0.03 && d <= 1.09 * s + 0.05, "{d} vs {s}");
}
