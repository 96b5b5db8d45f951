//! Guards the CPU renderer: frames show what is where (the agent's colour at the agent's
//! projected position, hazards in their colour), goal images place the bodies at the goal
//! without changing the world, and sizes and supersampling behave.

mod common;

use std::sync::Arc;

use common::{WORLDS, load};
use sim::render::Camera;
use sim::{Frame, Renderer, World};

fn colour_distance(a: [u8; 3], b: [f32; 3]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f32::from(*x) / 255.0 - y).abs())
        .fold(0.0, f32::max)
}

/// Pixel coordinates of a world point in a frame.
fn project(camera: &Camera, p: [f32; 3]) -> (u32, u32) {
    let clip = camera.clip_from_world * rapier3d::glamx::Vec4::new(p[0], p[1], p[2], 1.0);
    let x = (clip.x / clip.w * 0.5 + 0.5) * camera.width as f32;
    let y = (0.5 - clip.y / clip.w * 0.5) * camera.height as f32;
    (x as u32, y as u32)
}

/// Whether some pixel within `r` of `(x, y)` has roughly `colour` (shading darkens it).
fn colour_near(frame: &Frame, (x, y): (u32, u32), r: i32, colour: [f32; 3]) -> bool {
    (-r..=r).any(|dy| {
        (-r..=r).any(|dx| {
            let (px, py) = (x as i32 + dx, y as i32 + dy);
            px >= 0 && py >= 0 && (px as u32) < frame.width && (py as u32) < frame.height && {
                let pixel = frame.pixel(px as u32, py as u32);
                // Same hue up to shading: compare normalised colours.
                let sum = pixel.iter().map(|c| f32::from(*c)).sum::<f32>().max(1.0);
                let target_sum = colour.iter().sum::<f32>();
                let normalised = pixel.map(|c| (f32::from(c) / sum * target_sum * 255.0) as u8);
                colour_distance(normalised, colour) < 0.12
            }
        })
    })
}

#[test]
fn the_agent_appears_where_it_is() {
    for name in ["reach", "two_rooms", "push"] {
        let spec = load(name);
        let world = World::from_seed(Arc::clone(&spec), 5).expect("world");
        let mut renderer = Renderer::with_size(&spec, &spec.learner_camera(), 128, 128);
        let frame = renderer.render(&world);
        let at = project(renderer.camera(), world.agent_position());
        assert!(
            colour_near(&frame, at, 1, spec.agent.material.colour),
            "{name}: no agent colour at {at:?}"
        );
    }
}

#[test]
fn hazards_are_drawn_in_their_colour() {
    let spec = load("two_rooms");
    let world = World::from_seed(Arc::clone(&spec), 0).expect("world");
    let mut renderer = Renderer::new(&spec);
    let frame = renderer.render(&world);
    // Where and in what colour this episode drew them: two_rooms moves and recolours them.
    for (hazard, drawn) in spec.hazards.iter().zip(&world.episode().hazards) {
        let r = drawn.region;
        let centre = [
            0.5 * (r.min[0] + r.max[0]),
            0.5 * (r.min[1] + r.max[1]),
            0.0,
        ];
        let at = project(renderer.camera(), centre);
        assert!(
            colour_near(&frame, at, 0, drawn.colour),
            "{} not visible",
            hazard.name
        );
    }
}

#[test]
fn goal_images_place_the_agent_at_the_goal_and_leave_the_world_alone() {
    let spec = load("reach");
    let world = World::from_seed(Arc::clone(&spec), 9).expect("world");
    let before = world.state_hash();
    let mut renderer = Renderer::with_size(&spec, &spec.learner_camera(), 128, 128);
    let start = renderer.render(&world);
    let goal = renderer.render_goal(&world);
    assert_eq!(
        before,
        world.state_hash(),
        "rendering the goal moved the world"
    );
    assert_ne!(start, goal);
    let g = world.goal().agent_position;
    let z = world.agent_position()[2];
    let at = project(renderer.camera(), [g[0], g[1], z]);
    assert!(colour_near(&goal, at, 1, spec.agent.material.colour));
    assert_eq!(start, renderer.render(&world), "rendering is repeatable");
}

#[test]
fn push_goal_images_show_the_block_at_its_goal_pose() {
    let spec = load("push");
    let world = World::from_seed(Arc::clone(&spec), 2).expect("world");
    let mut renderer = Renderer::with_size(&spec, &spec.learner_camera(), 128, 128);
    let goal = renderer.render_goal(&world);
    let pose = world
        .goal()
        .object_pose
        .expect("push goal has an object pose");
    let at = project(renderer.camera(), [pose.position[0], pose.position[1], 0.1]);
    let block = spec
        .bodies
        .iter()
        .find(|b| b.name == "tblock")
        .expect("tblock");
    assert!(colour_near(&goal, at, 3, block.material.colour));
}

#[test]
fn sizes_and_supersampling() {
    for name in WORLDS {
        let spec = load(name);
        let world = World::from_seed(Arc::clone(&spec), 0).expect("world");
        let mut camera = spec.learner_camera();
        let plain = Renderer::with_size(&spec, &camera, 96, 48).render(&world);
        assert_eq!(
            (plain.width, plain.height, plain.rgb.len()),
            (96, 48, 96 * 48 * 3)
        );
        camera.supersample = 2;
        let smooth = Renderer::with_size(&spec, &camera, 96, 48).render(&world);
        assert_eq!(smooth.rgb.len(), plain.rgb.len());
        assert_ne!(smooth, plain, "{name}: supersampling changed nothing");
        let distinct: std::collections::HashSet<[u8; 3]> = (0..plain.width * plain.height)
            .map(|i| plain.pixel(i % 96, i / 96))
            .collect();
        assert!(
            distinct.len() >= 4,
            "{name}: only {} colours in the frame",
            distinct.len()
        );
    }
}
