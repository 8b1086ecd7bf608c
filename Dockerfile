# otpflow image: all binaries (otpflow-ingest, otpflow-worker, otpflow-sender,
# otpflowctl), the SQL migrations and the SMS templates.
#
#   docker build -t otpflow .
#   docker run --rm otpflow otpflowctl --help
#
# The build stage installs exactly scripts/packages-build.txt (the list the
# README's set-up uses) and builds with the same CMake flags; the final
# image holds only scripts/packages-runtime.txt and runs as a non-root user.

FROM debian:bookworm-slim AS build
COPY scripts/install-deps.sh scripts/packages-build.txt /src/scripts/
RUN /src/scripts/install-deps.sh --build-only
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCMAKE_INSTALL_PREFIX=/opt/otpflow \
 && ninja -C /build \
 && ninja -C /build install

FROM debian:bookworm-slim
COPY scripts/packages-runtime.txt /tmp/
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      $(grep -vE '^\s*(#|$)' /tmp/packages-runtime.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/packages-runtime.txt \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin otpflow
COPY --from=build /opt/otpflow /opt/otpflow
ENV PATH=/opt/otpflow/bin:$PATH \
    OTPFLOW_DATA_DIR=/opt/otpflow/share/otpflow
USER otpflow
EXPOSE 4000 9101 9102
CMD ["otpflow-ingest", "--help"]
