# hookhost in a container: the compiled binary on a slim glibc base, as a non-root user.
#
# Not built by this repository's CI (no registry, and `deno compile` needs the network for Deno's
# runtime): build the binary first, then the image:
#
#   deno task compile --target x86_64-unknown-linux-gnu      # or aarch64-unknown-linux-gnu
#   docker build --build-arg TARGET=x86_64-unknown-linux-gnu -t hookhost .
#   docker run -d -p 9000:9000 -v "$PWD/project:/etc/hookhost:ro" -v hookhost-state:/var/lib/hookhost \
#     hookhost run --name main --daemon --hook deploy
#
# hookhost is the entrypoint and so PID 1: it reaps the orphans scripts leave and turns the
# SIGTERM of `docker stop` into its graceful shutdown (docs/operations.md "Containers"); no
# `--init` needed. The config (`hookhost.toml`) and the plugins folder are read from
# /etc/hookhost, the inbox and every other piece of state live in /var/lib/hookhost.
FROM debian:bookworm-slim

ARG TARGET=x86_64-unknown-linux-gnu

# curl for the health check; ca-certificates for scripts and plugins that call out over HTTPS.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates curl \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --user-group --home-dir /var/lib/hookhost --shell /usr/sbin/nologin hookhost \
  && mkdir -p /etc/hookhost/plugins /var/lib/hookhost \
  && chown hookhost:hookhost /var/lib/hookhost \
  && chmod 0700 /var/lib/hookhost

COPY --chmod=0755 dist/hookhost-${TARGET} /usr/local/bin/hookhost

ENV HOOKHOST_CONFIG=/etc/hookhost/hookhost.toml \
    HOOKHOST_PLUGINS=/etc/hookhost/plugins \
    HOOKHOST_STATE=/var/lib/hookhost

USER hookhost
WORKDIR /var/lib/hookhost
VOLUME ["/etc/hookhost/plugins", "/var/lib/hookhost"]

# Hooks bind where hookhost.toml says; give the admin listener a bind such as "0.0.0.0:9180"
# (with token_env) or keep its loopback default: the health check runs inside the container.
EXPOSE 9000 9180
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9180/healthz"]

ENTRYPOINT ["/usr/local/bin/hookhost"]
CMD ["run", "--name", "main", "--daemon"]
