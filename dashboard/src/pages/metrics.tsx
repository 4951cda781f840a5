export function MetricsPage() {
  return (
    <section>
      <h1>Metrics</h1>
    </section>
  );
}
