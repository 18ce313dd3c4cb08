"""The Flywheel results page (FastAPI app, view model, HTML/JS/CSS and the vendored Chart.js); no Airflow."""
