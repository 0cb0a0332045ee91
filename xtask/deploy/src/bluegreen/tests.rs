//! Blue/green against scripted responses.
