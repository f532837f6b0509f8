/*
 * The what-if form's "Add a measure" button: appends a blank assumption row from the formset's
 * <template> and counts it in the management form's TOTAL_FORMS. Without script the form keeps
 * its server-rendered blank rows (and the button stays hidden).
 */
(function () {
  "use strict";

  function enhance() {
    document.querySelectorAll("button.scenarios-add-row[data-formset]").forEach((button) => {
      const prefix = button.dataset.formset;
      const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
      const most = document.getElementById(`id_${prefix}-MAX_NUM_FORMS`);
      const template = document.getElementById(`${prefix}-empty-row`);
      const body = document.querySelector(`table[data-formset="${prefix}"] tbody`);
      if (!total || !template || !body) return;
      button.hidden = false;
      button.addEventListener("click", () => {
        const index = Number(total.value);
        if (most && index >= Number(most.value)) return;
        const html = template.innerHTML.replace(/__prefix__/g, String(index));
        body.insertAdjacentHTML("beforeend", html);
        total.value = String(index + 1);
        const added = body.lastElementChild && body.lastElementChild.querySelector("select");
        if (added) added.focus();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
