FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p kenpo-idp -p kenpo-portal

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kenpo-idp /src/target/release/kenpo-portal /usr/local/bin/
USER nobody
