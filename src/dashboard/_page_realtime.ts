/**
 * The realtime and uploads page: channels with their subscribers on every
 * instance of the hub, presence members, and uploads with their progress.
 *
 * @module
 */
import { html } from "hono/html";
import { type Html, missing, when } from "./_layout.ts";
import type { DashboardParts } from "./_state.ts";

/** The page's body. */
export async function realtimePage(parts: DashboardParts): Promise<Html> {
  return html`${parts.realtime ? await channels(parts) : ""}${parts.uploads ? uploads(parts) : ""}`;
}

async function channels(parts: DashboardParts): Promise<Html> {
  const { channels: list, unlisted } = await parts.realtime!.channels();
  return html`<section class="card" data-live><h2>Channels</h2>
<p class="note"><span data-total="connections">${
    parts.realtime!.connections
  }</span> connections on this instance; subscribers are counted on every instance.</p>${
    list.length === 0 ? missing("No channel has a subscriber.") : html`
      <table>
        <thead>
          <tr>
            <th>Channel</th>
            <th class="num">Subscribers</th>
            <th>Members</th>
          </tr>
        </thead>
        <tbody>${list.map((channel) =>
          html`
            <tr data-channel="${channel.name}">
              <td><code>${channel.name}</code></td>
              <td class="num">${channel.subscribers}</td>
              <td>${channel.members === undefined
                ? "—"
                : channel.members.map((member) => member.id).join(", ") || "nobody"}</td>
            </tr>
          `
        )}</tbody>
      </table>
      ${unlisted > 0 ? missing(`${unlisted} quieter channels are not listed.`) : ""}
    `
  }</section>`;
}

function uploads(parts: DashboardParts): Html {
  const list = parts.uploads!.list();
  return html`<section class="card"><h2>Uploads</h2>${
    list.length === 0 ? missing("No upload in the last hour.") : html`
      <table>
        <thead>
          <tr>
            <th>Upload</th>
            <th>Progress</th>
            <th class="num">Bytes</th>
            <th>Last bytes</th>
          </tr>
        </thead>
        <tbody>${list.map((upload) => {
          const percent = upload.length ? Math.floor((upload.offset / upload.length) * 100) : null;
          return html`
            <tr data-upload="${upload.id}">
              <td><code>${upload.id}</code></td>
              <td>${upload.complete
                ? "complete"
                : percent === null
                ? "length not yet known"
                : html`<progress max="100" value="${percent}"></progress> ${percent} %`}</td>
              <td class="num">${upload.offset} / ${upload.length ?? "?"}</td>
              <td>${when(upload.updatedAt)}</td>
            </tr>
          `;
        })}</tbody>
      </table>
    `
  }</section>`;
}
