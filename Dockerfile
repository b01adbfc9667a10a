# pgep in a container: Debian 12, pgep under tini as PID 1, configured from the environment
# (PGPROXY_... variables, as pg-event-proxy's image). See docker-compose.yml.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      make g++ pkg-config libpq-dev librabbitmq-dev libmosquitto-dev libcurl4-openssl-dev libpaho-mqttpp-dev libpaho-mqtt-dev libhiredis-dev \
      libuv1-dev libmsgpack-cxx-dev libinih-dev libsimdjson-dev libssl-dev libxml2-dev libnats-dev librdkafka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" && make install PREFIX=/usr DESTDIR=/out

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      tini ca-certificates libpq5 librabbitmq4 libmosquitto1 libcurl4 libpaho-mqttpp3-1 libpaho-mqtt1.3 libhiredis0.14 libuv1 \
      libinih1 libsimdjson14 libxml2 libnats3.4 librdkafka1 \
    && rm -rf /var/lib/apt/lists/* \
    && adduser --system --group --home /var/lib/pgep --no-create-home pgep \
    && install -d -m 0700 -o pgep -g pgep /var/lib/pgep /run/pgep
COPY --from=build /out/ /
# Not root: pgep needs no privilege. Its control socket and state follow these two variables
# (systemd's names); mount a volume on /var/lib/pgep to keep the WAL position across containers.
USER pgep
ENV RUNTIME_DIRECTORY=/run/pgep STATE_DIRECTORY=/var/lib/pgep
VOLUME /var/lib/pgep
# tini reaps and forwards SIGTERM: `docker stop` lets pgep drain what is in flight.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/usr/bin/pgep"]
