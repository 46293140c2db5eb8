/** The element with this id, of this type: a page whose markup lacks it fails at once, by name. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return e;
}

/** A table row of text cells (textContent: nothing the gateway sends is read as markup). */
export function row(cells: readonly (string | number)[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const c of cells) tr.append(Object.assign(document.createElement('td'), { textContent: String(c) }));
  return tr;
}
