// The admin UI's one script, and all of it optional: a form marked
// `data-inplace` (the check button) is posted in the background and only its
// `[data-result]` is replaced by the same element of the page the server
// answers. Without this script the form posts and the whole page comes back.
// A file picker marked `data-file-into` (hidden without this script) reads
// the chosen file into the textarea it names.
document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-inplace')) return;
  const out = form.querySelector('[data-result]');
  if (!out) return;
  event.preventDefault();
  const button = form.querySelector('button');
  button.disabled = true;
  out.textContent = 'Checking…';
  try {
    const response = await fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(new FormData(form)),
      credentials: 'same-origin',
    });
    const page = new DOMParser().parseFromString(await response.text(), 'text/html');
    const fresh = page.getElementById(out.id);
    if (fresh) {
      out.replaceChildren(...fresh.childNodes);
    } else {
      out.textContent = 'The check could not be made (HTTP ' + response.status + ').';
    }
  } catch (error) {
    out.textContent = 'The check could not be made: ' + error;
  } finally {
    button.disabled = false;
  }
});

for (const field of document.querySelectorAll('[data-file-into]')) {
  const target = document.getElementById(field.dataset.fileInto);
  const picker = field.querySelector('input[type=file]');
  if (!target || !picker) continue;
  field.hidden = false;
  picker.addEventListener('change', async () => {
    const file = picker.files && picker.files[0];
    if (file) target.value = await file.text();
  });
}
