// A trace point's strings live inside it: what its accessors return is
// borrowed from it, so a point made outside a static (which only generated
// code does) cannot hand out strings that outlive it.
use tracekit::__private::{Metadata, SpanKind};

fn main() {
    let name: &'static str = {
        let point = Metadata::<[u8; 12]>::new("app::f\0x.rs\0", 0, 1, false, 1, false, SpanKind::Internal, 0, 0);
        let point: &Metadata = &point;
        point.name()
    };
    println!("{name}");
}
