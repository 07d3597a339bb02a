//! Great-circle distance between two points on the Earth, by the haversine formula
//! (a textbook formula, written here rather than taken from a crate).

/// The Earth's mean radius (IUGG), in km.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// The distance in km between two (latitude, longitude) points in degrees.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        let paris = (48.8566, 2.3522);
        let new_york = (40.7128, -74.0060);
        let sydney = (-33.8688, 151.2093);
        let cases = [
            (paris, paris, 0.0),
            (paris, new_york, 5_837.0),
            (new_york, sydney, 15_990.0),
            // Antipodes: half the circumference, without NaN from rounding.
            ((0.0, 0.0), (0.0, 180.0), 20_015.1),
            ((90.0, 0.0), (-90.0, 0.0), 20_015.1),
        ];
        for (a, b, km) in cases {
            let got = haversine_km(a, b);
            assert!((got - km).abs() < km * 0.005 + 0.01, "{a:?} {b:?}: {got}");
            assert!((haversine_km(b, a) - got).abs() < 1e-9);
        }
    }
}
