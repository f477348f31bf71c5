# syntax=docker/dockerfile:1
# incident-mcp: a static binary on distroless, running as a non-root user.
#   docker build --build-arg VERSION=1.0.0 -t incident-mcp .
#   docker run -p 8080:8080 -v ./tokens:/etc/incident-mcp/tokens:ro incident-mcp
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/incident-mcp ./cmd/incident-mcp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/incident-mcp /incident-mcp
# The audit log of writes; mount a volume here to keep it.
ENV XDG_STATE_HOME=/var/lib/incident-mcp
USER nonroot:nonroot
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=5s CMD ["/incident-mcp", "--probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/incident-mcp"]
CMD ["--http", ":8080", "--metrics-addr", ":9090", "--http-tokens-file", "/etc/incident-mcp/tokens"]
