//! The images under the extensions root: which settings point into them, and what about their
//! layout PostgreSQL would not use.

use super::*;

impl Inventory {
    pub(super) fn collect_images(&mut self, settings: &Settings, root: &str, cache: &mut ReadCache) {
        if root.is_empty() {
            return;
        }
        let mut images: BTreeMap<String, Image> = BTreeMap::new();
        let blank = |name: &str| Image {
            name: name.to_string(),
            root: format!("{root}/{name}"),
            mounted: false,
            on_control_path: Vec::new(),
            on_library_path: Vec::new(),
            on_ld_library_path: Vec::new(),
            on_path: Vec::new(),
            env: Vec::new(),
            not_on_path: Vec::new(),
            extension_count: 0,
            library_count: 0,
            problems: Vec::new(),
        };
        if let Ok(names) = cache.list_dir(root) {
            for n in names {
                let p = format!("{root}/{}", n.text);
                if n.utf8 && fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false) {
                    // Just seen to be a directory: mounted.
                    images.insert(
                        n.text.clone(),
                        Image {
                            mounted: true,
                            ..blank(&n.text)
                        },
                    );
                }
            }
        }
        for name in &settings.pinned {
            images.entry(name.clone()).or_insert_with(|| blank(name));
        }
        let mut note = |dir: &str, pick: fn(&mut Image) -> &mut Vec<String>| {
            if let Some((name, sub)) = image_of(dir, root) {
                let img = images.entry(name.clone()).or_insert_with(|| blank(&name));
                let list = pick(img);
                if !list.contains(&sub) {
                    list.push(sub);
                }
            }
        };
        for e in &settings.control {
            if let Some(d) = &e.searched {
                note(d, |i| &mut i.on_control_path);
            }
        }
        for e in &settings.library {
            if let Some(d) = &e.searched {
                note(d, |i| &mut i.on_library_path);
            }
        }
        for d in &settings.ld_library_path {
            note(&paths::canonicalize_path(d), |i| &mut i.on_ld_library_path);
        }
        for d in &settings.path {
            note(&paths::canonicalize_path(d), |i| &mut i.on_path);
        }
        let mut env: Vec<_> = settings.env.iter().collect();
        env.sort();
        for (var, value) in env {
            // One entry per image however many elements of a `:` list point into it.
            let named: BTreeSet<String> = value
                .split(':')
                .filter(|e| e.starts_with('/'))
                .filter_map(|e| image_of(&paths::canonicalize_path(e), root).map(|(name, _)| name))
                .collect();
            if named.is_empty() {
                continue;
            }
            let entry = format!("{var}={value}");
            for name in named {
                let img = images.entry(name.clone()).or_insert_with(|| blank(&name));
                img.env.push(entry.clone());
            }
        }
        for img in images.values_mut() {
            if !img.mounted {
                img.mounted = fs::metadata(&img.root).map(|m| m.is_dir()).unwrap_or(false);
            }
            img.extension_count = self
                .extensions
                .iter()
                .filter(|x| x.image.as_deref() == Some(&img.name))
                .count();
            img.library_count = self
                .libraries
                .iter()
                .filter(|l| l.image.as_deref() == Some(&img.name))
                .count();
            check_image(img, cache);
            for (dir, p) in &self.failed_listings {
                if image_of(dir, root).is_some_and(|(name, _)| name == img.name) && !img.problems.contains(p) {
                    img.problems.push(p.clone());
                }
            }
        }
        self.images = images.into_values().collect();
    }
}

fn check_image(img: &mut Image, cache: &mut ReadCache) {
    let used = !img.on_control_path.is_empty() || !img.on_library_path.is_empty();
    if !img.mounted {
        img.problems.push(Problem::error(
            Code::NotMounted,
            format!(
                "{} does not exist but the settings or a pin name it: PostgreSQL skips missing directories \
                 silently, so this image's extensions are simply unavailable",
                img.root
            ),
        ));
        return;
    }
    let mut has = |sub: &str, pred: &dyn Fn(&str) -> bool| -> bool {
        cache
            .list_dir(&format!("{}/{sub}", img.root))
            .map(|names| names.iter().any(|n| pred(&n.text)))
            .unwrap_or(false)
    };
    if !img.on_control_path.iter().any(|d| d == "share/extension")
        && has("share/extension", &|n| n.ends_with(".control"))
    {
        img.not_on_path.push("share/extension".to_string());
    }
    if !img.on_library_path.iter().any(|d| d == "lib") && has("lib", &|n| n.ends_with(".so")) {
        img.not_on_path.push("lib".to_string());
    }
    if !img.on_ld_library_path.iter().any(|d| d == "system") && has("system", &|_| true) {
        img.not_on_path.push("system".to_string());
    }
    for d in &img.not_on_path {
        let what = match d.as_str() {
            "share/extension" => "its control files are not on extension_control_path: PostgreSQL does not see them",
            "lib" => "its libraries are not on dynamic_library_path: only absolute references can load them",
            _ => "its OS libraries are not on the postmaster's LD_LIBRARY_PATH: modules that need them fail to load",
        };
        img.problems
            .push(Problem::warning(Code::NotOnPath, format!("{d}/: {what}")));
    }
    if !used && img.not_on_path.is_empty() {
        img.problems
            .push(Problem::info(Code::UnusedImage, "no setting points into this image"));
    }
}

/// The image a directory belongs to: the first component below `root`.
pub fn image_of(dir: &str, root: &str) -> Option<(String, String)> {
    if root.is_empty() {
        return None;
    }
    let rest = dir.strip_prefix(root)?.strip_prefix('/')?;
    let (name, sub) = match rest.split_once('/') {
        Some((n, s)) => (n, s),
        None => (rest, ""),
    };
    if name.is_empty() {
        return None;
    }
    Some((name.to_string(), sub.to_string()))
}
