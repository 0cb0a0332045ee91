// EventFlow dashboard run-time configuration.
// The container may rewrite this file at start-up; see frontend/README.md.
// apiBaseUrl: "" means the API is on the same origin as the dashboard.
window.EVENTFLOW_CONFIG = {
  apiBaseUrl: "",
};
