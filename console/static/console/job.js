/*
 * A job's progress page (console/star_ratings/job.html): asks the jobs API every second how far
 * the job has got and moves the bar and the stage; once it has succeeded, opens the run it made
 * (its result's `portfolio_run`) or the page that started it (`data-next`, e.g. the cut points
 * page after a projection); once it has failed, says why. Without this script the page is
 * still right when loaded, and its Refresh link loads it again.
 */
(function () {
  "use strict";

  const STATUS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  const ACTIVE = ["queued", "running"];

  function text(id, words) {
    const element = document.getElementById(id);
    if (element) element.textContent = words;
  }

  // A time as the page writes it ("2026-12-06 13:44:20"): the API's ISO time is already in the
  // portal's time zone, so its date and clock are taken as they are.
  function clock(iso) {
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  }

  // A job's time in words, as the page's server side writes it: "4 s", "3 min 5 s", "1 h 2 min".
  function duration(seconds) {
    seconds = Math.max(Math.round(seconds), 0);
    if (seconds < 60) return `${seconds} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function show(job, section) {
    const percent = `${Math.round(job.progress * 100)}%`;
    const bar = document.getElementById("job-progress");
    bar.value = job.progress;
    bar.textContent = percent;
    text("job-percent", percent);
    const stage = job.stage || "waiting for a worker";
    text("job-stage", stage.charAt(0).toUpperCase() + stage.slice(1));
    text("job-status", STATUS[job.status] + (job.cancel_requested && ACTIVE.includes(job.status) ? " (cancel requested)" : ""));
    section.dataset.status = job.status;
    if (job.started_at) {
      text("job-started", clock(job.started_at));
      const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
      text("job-elapsed", duration((end - Date.parse(job.started_at)) / 1000));
    }
    if (ACTIVE.includes(job.status)) return true;
    text("job-elapsed-label", "Took");
    ["job-refresh", "job-cancel"].forEach((id) => {
      const element = document.getElementById(id);
      if (element) element.hidden = true;
    });
    if (job.status === "failed") {
      const error = document.getElementById("job-error");
      error.textContent = `It failed: ${(job.error && job.error.message) || "no reason was given."}`;
      error.hidden = false;
    }
    const run = job.result && job.result.portfolio_run;
    if (job.status === "succeeded" && run) {
      window.location.assign(section.dataset.runZero.replace(/0\/$/, `${run}/`));
    } else if (job.status === "succeeded" && section.dataset.next) {
      window.location.assign(section.dataset.next);
    }
    return false;
  }

  function poll(section) {
    fetch(section.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((job) => {
        if (show(job, section)) window.setTimeout(() => poll(section), 1000);
      })
      .catch(() => {
        text("job-stage", "The server did not answer; trying again.");
        window.setTimeout(() => poll(section), 3000);
      });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("job");
    if (section && ACTIVE.includes(section.dataset.status)) window.setTimeout(() => poll(section), 1000);
  });
})();
