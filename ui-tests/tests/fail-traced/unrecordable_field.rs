struct Secret;

struct Request {
    secret: Secret,
}

#[tracekit::trace_fn(skip(req), fields(secret = req.secret))]
fn handle(req: Request) {
    drop(req);
}

fn main() {}
