//! Tests only: egui's triangles rasterised on the CPU, so a headless editor can be looked at
//! (screenshots of states a window test cannot reach, such as an open menu). Plain and slow:
//! nearest texel, premultiplied alpha blending, no multisampling (egui feathers its own edges).

use std::collections::HashMap;
use std::path::Path;

use egui::epaint::ImageDelta;
use egui::epaint::{ClippedPrimitive, Primitive, Vertex};
use egui::{Color32, ColorImage, ImageData, TextureId, TexturesDelta};

/// Every texture egui uploaded so far (the font atlas, by patches).
#[derive(Default)]
pub struct Textures(HashMap<TextureId, ColorImage>);

impl Textures {
    pub fn apply(&mut self, delta: &TexturesDelta) {
        for (id, updates) in &delta.set {
            for update in updates {
                self.patch(*id, update);
            }
        }
    }

    fn patch(&mut self, id: TextureId, update: &ImageDelta) {
        let ImageData::Color(patch) = &update.image;
        let Some([x0, y0]) = update.pos else {
            self.0.insert(id, (**patch).clone());
            return;
        };
        let Some(image) = self.0.get_mut(&id) else {
            return;
        };
        for y in 0..patch.size[1] {
            for x in 0..patch.size[0] {
                let to = (y0 + y) * image.size[0] + x0 + x;
                image.pixels[to] = patch.pixels[y * patch.size[0] + x];
            }
        }
    }
}

/// An RGB picture `width` x `height` pixels at one pixel per point.
pub struct Canvas {
    width: usize,
    height: usize,
    /// Premultiplied RGBA as floats 0..1.
    pixels: Vec<[f32; 4]>,
}

impl Canvas {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![[0.0, 0.0, 0.0, 1.0]; width * height],
        }
    }

    pub fn paint(&mut self, primitives: &[ClippedPrimitive], textures: &Textures) {
        for primitive in primitives {
            let Primitive::Mesh(mesh) = &primitive.primitive else {
                continue;
            };
            let texture = textures.0.get(&mesh.texture_id);
            let clip = primitive.clip_rect;
            for triangle in mesh.indices.chunks_exact(3) {
                let [a, b, c] = [0, 1, 2].map(|i| &mesh.vertices[triangle[i] as usize]);
                self.triangle([a, b, c], clip, texture);
            }
        }
    }

    fn triangle(&mut self, v: [&Vertex; 3], clip: egui::Rect, texture: Option<&ColorImage>) {
        let [a, b, c] = v.map(|v| v.pos);
        let area = (b.x - a.x) * (c.y - a.y) - (c.x - a.x) * (b.y - a.y);
        if area.abs() < 1e-6 {
            return;
        }
        let min_x = a.x.min(b.x).min(c.x).max(clip.left()).max(0.0).floor() as usize;
        let min_y = a.y.min(b.y).min(c.y).max(clip.top()).max(0.0).floor() as usize;
        let max_x = (a.x.max(b.x).max(c.x).min(clip.right()).ceil() as usize).min(self.width);
        let max_y = (a.y.max(b.y).max(c.y).min(clip.bottom()).ceil() as usize).min(self.height);
        for y in min_y..max_y {
            for x in min_x..max_x {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                if !clip.contains(egui::pos2(px, py)) {
                    continue;
                }
                let w0 = ((b.x - px) * (c.y - py) - (c.x - px) * (b.y - py)) / area;
                let w1 = ((c.x - px) * (a.y - py) - (a.x - px) * (c.y - py)) / area;
                let w2 = 1.0 - w0 - w1;
                if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                    continue;
                }
                let weights = [w0, w1, w2];
                let mut color = [0.0f32; 4];
                let (mut u, mut t) = (0.0, 0.0);
                for (vertex, w) in v.iter().zip(weights) {
                    let rgba = vertex.color.to_array();
                    for (channel, value) in color.iter_mut().zip(rgba) {
                        *channel += w * f32::from(value) / 255.0;
                    }
                    u += w * vertex.uv.x;
                    t += w * vertex.uv.y;
                }
                if let Some(texture) = texture {
                    let texel = sample(texture, u, t).to_array();
                    for (channel, value) in color.iter_mut().zip(texel) {
                        *channel *= f32::from(value) / 255.0;
                    }
                }
                let pixel = &mut self.pixels[y * self.width + x];
                let keep = 1.0 - color[3];
                for (dst, src) in pixel.iter_mut().zip(color) {
                    *dst = src + *dst * keep;
                }
            }
        }
    }

    /// Writes the picture as PNG through ImageMagick (`convert`), from a PPM beside it.
    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        let ppm = path.with_extension("ppm");
        let mut bytes = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        for pixel in &self.pixels {
            bytes.extend(
                pixel[..3]
                    .iter()
                    .map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8),
            );
        }
        std::fs::write(&ppm, bytes)?;
        let status = std::process::Command::new("convert")
            .arg(&ppm)
            .arg(path)
            .status()?;
        std::fs::remove_file(&ppm)?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("convert failed: {status}")))
        }
    }
}

fn sample(texture: &ColorImage, u: f32, v: f32) -> Color32 {
    let [w, h] = texture.size;
    let x = ((u * w as f32).floor().max(0.0) as usize).min(w - 1);
    let y = ((v * h as f32).floor().max(0.0) as usize).min(h - 1);
    texture.pixels[y * w + x]
}
