export function ActivityPage() {
  return (
    <section>
      <h1>Activity</h1>
    </section>
  );
}
