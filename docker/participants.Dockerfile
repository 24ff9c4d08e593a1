# syntax=docker/dockerfile:1
# Participant services image: inventory, payments and shipping share it and are chosen with
# --service. Build context is the repository root:
#   docker build -f docker/participants.Dockerfile -t sagas/participants .
# SDK_IMAGE can be pinned (e.g. a tag whose SDK satisfies global.json: 10.0.401, rollForward latestFeature).
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

# Project files only, with their folders, so the restore layer below changes only when a
# csproj or props file changes (COPY cannot keep folder structure for globbed files).
FROM ${SDK_IMAGE} AS projects
WORKDIR /src
COPY src/ src/
RUN find src -type f ! -name '*.csproj' ! -name 'Directory.*.props' ! -name 'Directory.*.targets' -delete \
 && find src -type d -empty -delete

FROM ${SDK_IMAGE} AS build
WORKDIR /src
# NuGet.confi[g]: copied only if present.
COPY global.json Directory.Build.props Directory.Packages.props NuGet.confi[g] ./
COPY --from=projects /src/src/ src/
RUN dotnet restore src/Participants/Sagas.Samples.Host/Sagas.Samples.Host.csproj
COPY src/ src/
RUN dotnet publish src/Participants/Sagas.Samples.Host/Sagas.Samples.Host.csproj -c Release --no-restore \
      -o /app/publish -p:UseAppHost=false

FROM ${RUNTIME_IMAGE} AS final
WORKDIR /app
COPY --from=build /app/publish .
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "Sagas.Samples.Host.dll"]
# Overridden per service in compose.yaml.
CMD ["--service", "inventory"]
